"""Rule fig_curves: Fig. 7, ROC and precision-recall curves of canary detection per definition."""

from memgen.figures.jobs import write_fig_curves
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_fig_curves(dict(smk.input), smk.output.png, smk.output.pdf, smk.params.analysis),
)
