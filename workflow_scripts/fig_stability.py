"""Rule fig_stability: Fig. 9, stability of scores vs sub-ensemble size (all pairs)."""

from memgen.figures.jobs import write_fig_stability
from memgen.workflow import run

run(snakemake, lambda smk: write_fig_stability(list(smk.input), smk.output.png, smk.output.pdf))  # noqa: F821
