"""Rule loo_plan: does exact leave-one-out run on this dataset (loo.max_train_points)?"""

from memgen.loo.jobs import write_plan
from memgen.workflow import run

run(snakemake, lambda smk: write_plan(smk.input[0], smk.params.plan, smk.output[0]))  # noqa: F821
