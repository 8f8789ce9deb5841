"""Rule influence_duplicates: the high-influence pairs against the duplicate detector's pairs."""

from memgen.influence.jobs import write_influence_duplicates
from memgen.workflow import run


def work(smk):
    write_influence_duplicates(smk.input.influence, smk.input.duplicates, smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
