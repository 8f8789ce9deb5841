"""Rule fig_leakage: Fig. 4, high-scoring training points with a near-duplicate in the test set."""

from memgen.figures.jobs import write_fig_leakage
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_fig_leakage(
        smk.input.scores,
        smk.input.duplicates,
        smk.wildcards.dataset,
        smk.params.dataset,
        [smk.output.png, smk.output.pdf],
        smk.input.index,
    ),
)
