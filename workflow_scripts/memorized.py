"""Rule memorized: memorized.csv, the memorized set with files, labels, scores and held-out predictions."""

from memgen.analysis.memorized_jobs import write_memorized
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_memorized(
        smk.input.scores,
        smk.input.thresholds,
        smk.input.masks,
        list(smk.input.outputs),
        smk.input.index,
        smk.output[0],
        smk.params.memorized,
    ),
)
