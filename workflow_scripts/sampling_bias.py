"""Rule sampling_bias: per-point score error of each rate against the reference ensemble (paper §3.1) and
against exact leave-one-out (loo.csv)."""

from memgen.analysis.jobs import write_sampling_bias
from memgen.workflow import run


def work(smk):
    scores = {k: v for k, v in smk.input.items() if k != "loo"}
    return write_sampling_bias(
        scores, smk.output[0], smk.params.analysis, smk.wildcards.dataset, smk.wildcards.arch, smk.input.loo
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
