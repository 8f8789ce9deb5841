"""Rule proxies: proxies.csv, every proxy of every training point from the proxy log."""

from memgen.proxies.jobs import write_proxies
from memgen.workflow import run


def work(smk):
    return write_proxies(smk.input.log, smk.input.canaries, smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
