from memgen.stages.ensemble import write_masks
from memgen.workflow import run

run(snakemake, lambda smk: write_masks(list(smk.input), smk.output[0]))  # noqa: F821 (injected by Snakemake)
