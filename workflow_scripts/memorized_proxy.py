"""Rule memorized_proxy: the natural points a proxy flags against its canaries (memorized_proxy.csv)."""

from memgen.proxies.jobs import write_memorized_proxy
from memgen.workflow import run


def work(smk):
    return write_memorized_proxy(smk.input.proxies, smk.input.index, smk.params.flag, smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
