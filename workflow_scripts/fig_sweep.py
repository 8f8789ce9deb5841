"""Rule fig_sweep: Fig. 8, FPR at 95 % TPR vs weight decay (all pairs)."""

from memgen.figures.jobs import write_fig_sweep
from memgen.workflow import run

run(snakemake, lambda smk: write_fig_sweep(list(smk.input), smk.output.png, smk.output.pdf))  # noqa: F821
