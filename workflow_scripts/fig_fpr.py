"""Rule fig_fpr: Fig. 2, FPR at 95 % TPR per definition and ensemble (all pairs)."""

from memgen.figures.jobs import write_fig_fpr
from memgen.workflow import run

run(snakemake, lambda smk: write_fig_fpr(list(smk.input), smk.output.png, smk.output.pdf))  # noqa: F821
