"""Rule fig_intervals: Fig. 12, the reference ensemble's scores with their intervals, τ and memorized
marks."""

from memgen.figures.jobs import write_fig_intervals
from memgen.scores.intervals import DEFAULT_LEVEL
from memgen.workflow import run


def work(smk):
    return write_fig_intervals(
        smk.input.scores, smk.input.thresholds, DEFAULT_LEVEL, smk.output.png, smk.output.pdf
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
