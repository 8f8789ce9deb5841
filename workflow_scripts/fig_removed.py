"""Rule fig_removed: Fig. 10, scores of the points removed as memorized and at random."""

from memgen.figures.jobs import write_fig_removed
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_fig_removed(
        smk.input.scores, smk.input.removal, smk.params.definition, [smk.output.png, smk.output.pdf]
    ),
)
