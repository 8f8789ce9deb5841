from memgen.utility.run_jobs import write_utility_runs
from memgen.workflow import run


def work(smk):
    return write_utility_runs(
        smk.config,  # run-only settings (checkpoint interval, batching): not params, so never a rerun
        smk.wildcards.dataset,
        smk.wildcards.arch,
        smk.input.canaries,
        smk.input.removal,
        smk.wildcards.condition,
        smk.params.utility,
        list(smk.output.checkpoints),
        list(smk.output.outputs),
        smk.params.resume,
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
