from memgen.scores.jobs import write_scores
from memgen.workflow import run


def work(smk):
    return write_scores(
        smk.input.canaries,
        smk.input.masks,
        list(smk.input.outputs),
        smk.output.scores,
        smk.output.correct,
        smk.input.index,
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
