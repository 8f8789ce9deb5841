from memgen.stages.ensemble import write_masks
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_masks(smk.params.dataset, smk.wildcards.dataset, smk.params.masks, smk.output[0]),
)
