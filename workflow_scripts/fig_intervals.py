"""Rule fig_intervals: Fig. 12, the reference ensemble's scores with their intervals, τ and memorized
marks."""

from memgen.stages.intervals import write_fig_intervals
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_fig_intervals(
        smk.input.scores, smk.input.thresholds, smk.params.interval_level, smk.output.png, smk.output.pdf
    ),
)
