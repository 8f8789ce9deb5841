from memgen.stages.ensemble import write_mask_block
from memgen.workflow import run


def work(smk):
    return write_mask_block(smk.input[0], smk.params.masks, int(smk.wildcards.block), smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
