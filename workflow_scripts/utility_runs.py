from memgen.stages.ensemble import write_utility_runs
from memgen.workflow import run


def work(smk):
    return write_utility_runs(
        smk.params.dataset,
        smk.wildcards.dataset,
        smk.wildcards.arch,
        smk.input.canaries,
        smk.input.removal,
        smk.wildcards.condition,
        smk.params.utility,
        list(smk.output.checkpoints),
        list(smk.output.logits),
        smk.params.resume,
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
