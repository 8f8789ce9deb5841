"""Rule replicate_overlap: the replicates' memorized sets compared, one row per dataset x arch."""

from memgen.analysis.memorized_jobs import write_replicate_overlap
from memgen.workflow import run


def work(smk):
    i, p = smk.input, smk.params
    write_replicate_overlap(list(i.memorized), list(i.thresholds), p.pairs, smk.output[0], p.memorized)


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
