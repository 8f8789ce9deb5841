"""Rule memorized_replicates: every file memorized in some replicate, in how many of them."""

from memgen.analysis.memorized_jobs import write_memorized_replicates
from memgen.workflow import run


def work(smk):
    i = smk.input
    write_memorized_replicates(list(i.memorized), list(i.thresholds), smk.output[0], smk.params.memorized)


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
