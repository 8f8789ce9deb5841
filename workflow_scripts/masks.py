from memgen.ensemble.jobs import write_masks
from memgen.workflow import run


def work(smk):
    return write_masks(smk.input[0], smk.params.masks, smk.params.members, smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
