"""Rule loo_full: M models on the whole training set, the "in" half of every leave-one-out score."""

from memgen.loo.jobs import write_full
from memgen.workflow import run


def work(smk):
    return write_full(
        smk.config,  # the reference's name and run-only settings (batching): not params, so never a rerun
        smk.wildcards.dataset,
        smk.wildcards.arch,
        {"index": smk.input.index, "canaries": smk.input.canaries},
        smk.params.loo,
        smk.output[0],
        smk.params.resume,
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
