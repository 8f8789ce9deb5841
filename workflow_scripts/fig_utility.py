"""Rule fig_utility: Fig. 5, accuracy after memorized minus after random removal, from Table 3."""

from memgen.figures.jobs import write_fig_utility
from memgen.workflow import run

run(snakemake, lambda smk: write_fig_utility(smk.input[0], [smk.output.png, smk.output.pdf]))  # noqa: F821
