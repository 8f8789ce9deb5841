from memgen.stages.ensemble import write_members
from memgen.workflow import run


def work(smk):
    return write_members(
        smk.params.dataset,
        smk.wildcards.dataset,
        smk.wildcards.arch,
        smk.input.canaries,
        list(smk.input.blocks),
        smk.params.member,
        list(smk.output.checkpoints),
        list(smk.output.logits),
        smk.params.resume,
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
