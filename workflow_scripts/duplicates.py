from memgen.ensemble.duplicate_jobs import write_duplicates
from memgen.workflow import run


def work(smk):
    return write_duplicates(
        smk.wildcards.dataset, dict(smk.input), dict(smk.params.dataset), smk.output[0], smk.config
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
