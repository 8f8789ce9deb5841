"""Rule influence: influence.csv, the training points each test prediction leans on (memgen.influence)."""

from memgen.influence.jobs import write_influence
from memgen.workflow import run


def work(smk):
    i = smk.input
    return write_influence(
        i.masks, list(i.outputs), i.index, i.canaries, i.memorized, smk.output[0], smk.params.influence
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
