"""Rule fig_seeds: Fig. 11, Score and p against the number of utility seeds used."""

from memgen.figures.jobs import write_fig_seeds
from memgen.workflow import run

run(snakemake, lambda smk: write_fig_seeds(smk.input[0], [smk.output.png, smk.output.pdf]))  # noqa: F821
