"""Rule fitcheck: does the ensemble fit as its recipe should (own training points, dead units, divergence,
canaries)? Writes fit.json; a failure is logged with its fix and makes the memorized sets undefined."""

from memgen.scores.jobs import write_fitcheck
from memgen.workflow import run


def work(smk):
    return write_fitcheck(
        smk.input.canaries,
        smk.input.masks,
        smk.input.correct,
        list(smk.input.members),
        smk.output[0],
        dict(smk.params.fitcheck),
        smk.wildcards.dataset,
        smk.config,
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
