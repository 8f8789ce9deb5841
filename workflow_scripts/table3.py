"""Rule table3: utility per dataset x arch (paper Table 3 / Fig. 5)."""

from memgen.utility.jobs import write_table3
from memgen.workflow import run

run(snakemake, lambda smk: write_table3(list(smk.input.tables), smk.output[0]))  # noqa: F821
