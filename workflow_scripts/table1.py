"""Rule table1: the ablation table (paper Table 1/4) from every variant's utility table."""

from memgen.utility.jobs import write_table1
from memgen.workflow import run

run(snakemake, lambda smk: write_table1(list(smk.input.tables), smk.output[0]))  # noqa: F821
