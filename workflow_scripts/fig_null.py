"""Rule fig_null: Fig. 3, canary (null) vs natural score histograms of the reference ensemble, with τ."""

from memgen.figures.jobs import write_fig_null
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_fig_null(smk.input.scores, smk.input.thresholds, smk.output.png, smk.output.pdf),
)
