"""Rule loo_removed: for one job's chosen points, M models trained without each of them."""

from memgen.loo.jobs import write_removed
from memgen.workflow import run


def work(smk):
    return write_removed(
        smk.config,  # the reference's name and run-only settings (batching): not params, so never a rerun
        smk.wildcards.dataset,
        smk.wildcards.arch,
        dict(smk.input),
        smk.params.loo,
        smk.output[0],
        smk.params.resume,
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
