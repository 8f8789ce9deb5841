"""Rule proxy_log: the proxy models' training log and final measures (proxies/log.npz)."""

from memgen.proxies.jobs import write_proxy_log
from memgen.workflow import run


def work(smk):
    return write_proxy_log(
        smk.config,  # the reference's name and run-only settings (batching): not params, so never a rerun
        smk.wildcards.dataset,
        smk.wildcards.arch,
        {"index": smk.input.index, "canaries": smk.input.canaries},
        smk.params.proxies,
        smk.output[0],
        smk.params.resume,
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
