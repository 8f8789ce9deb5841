"""Rule influence: influence.csv, the training points each test prediction leans on, and influence.json, the
bar a high-influence pair clears at this ensemble's size (memgen.influence)."""

from memgen.influence.jobs import write_influence
from memgen.workflow import run


def work(smk):
    i = smk.input
    out = smk.output
    return write_influence(
        i.masks, list(i.outputs), i.index, i.canaries, i.memorized, out[0], out.summary, smk.params.influence
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
