from memgen.ensemble.jobs import write_members
from memgen.paths import member_checkpoint
from memgen.workflow import run


def work(smk):
    return write_members(
        smk.config,  # run-only settings (checkpoint interval, batching): not params, so never a rerun
        smk.wildcards.dataset,
        smk.wildcards.arch,
        smk.wildcards.ens,
        int(smk.wildcards.block),
        {"index": smk.input.index, "canaries": smk.input.canaries},
        smk.params.member,
        [member_checkpoint(p) for p in smk.output.outputs],  # beside, not declared
        list(smk.output.outputs),
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
