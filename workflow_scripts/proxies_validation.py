"""Rule proxies_validation: each proxy against the reference ensemble, leave-one-out and the canaries."""

from memgen.proxies.jobs import write_validation
from memgen.workflow import run


def work(smk):
    i, out = smk.input, smk.output[0]
    return write_validation(i.proxies, i.scores, i.memorized, i.loo, i.log, smk.params.validation, out)


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
