"""Rule influence_duplicates: the high-influence pairs against the duplicate detector's pairs, each of those
scored by the influence ensemble's members."""

from memgen.influence.jobs import write_influence_duplicates
from memgen.workflow import run


def work(smk):
    i = smk.input
    write_influence_duplicates(
        i.influence, i.duplicates, i.masks, list(i.outputs), i.index, i.canaries, smk.output[0]
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
