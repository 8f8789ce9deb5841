from memgen.stages.ensemble import write_duplicates
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_duplicates(
        smk.params.dataset, smk.wildcards.dataset, dict(smk.input), smk.params.threshold, smk.output[0]
    ),
)
