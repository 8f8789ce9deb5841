"""Rule fdr: the test rule's set, share and canary power per level q, and its calibration on fake masks."""

from memgen.scores.jobs import write_fdr
from memgen.workflow import run


def work(smk):
    return write_fdr(smk.input.scores, smk.input.masks, smk.input.correct, smk.output[0], smk.params.fdr)


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
