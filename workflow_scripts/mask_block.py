from memgen.stages.ensemble import write_mask_block
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_mask_block(
        smk.params.dataset, smk.wildcards.dataset, smk.params.masks, int(smk.wildcards.block), smk.output[0]
    ),
)
