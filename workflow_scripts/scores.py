from memgen.stages.ensemble import write_scores
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_scores(
        smk.input.canaries, smk.input.masks, list(smk.input.logits), smk.output.scores, smk.output.correct
    ),
)
