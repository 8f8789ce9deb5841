from memgen.data.jobs import write_canaries
from memgen.workflow import run


def work(smk):
    return write_canaries(smk.input[0], smk.wildcards.dataset, smk.params.canaries, smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
