"""Rule fig_sampling_bias: Fig. 1, sampling bias (all pairs)."""

from memgen.figures.jobs import write_fig_sampling_bias
from memgen.workflow import run

run(snakemake, lambda smk: write_fig_sampling_bias(list(smk.input), smk.output.png, smk.output.pdf))  # noqa: F821
