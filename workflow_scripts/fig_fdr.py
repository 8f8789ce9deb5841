"""Rule fig_fdr: Fig. 13, the test rule's set size and canary power against q, beside Eq. 3's counts."""

from memgen.figures.jobs import write_fig_fdr
from memgen.workflow import run


def work(smk):
    return write_fig_fdr(smk.input.fdr, smk.input.thresholds, smk.output.png, smk.output.pdf)


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
