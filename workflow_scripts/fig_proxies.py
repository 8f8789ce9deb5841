"""Rule fig_proxies: each memorization proxy against the ensembles, leave-one-out and the canaries."""

from memgen.figures.jobs import write_fig_proxies
from memgen.workflow import run


def work(smk):
    w = smk.wildcards
    return write_fig_proxies(smk.input.validation, w.dataset, w.arch, [smk.output.png, smk.output.pdf])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
