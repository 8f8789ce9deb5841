"""Rule fig_gallery: the most memorized training images per class, captioned with file, label and the
class held-out members predict instead."""

from memgen.figures.jobs import write_fig_gallery
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_fig_gallery(
        smk.input.memorized,
        smk.input.thresholds,
        smk.input.index,
        smk.wildcards.dataset,
        smk.wildcards.arch,
        smk.params.gallery["loader"],
        [smk.output.png, smk.output.pdf],
        smk.params.gallery["memorized"],
    ),
)
