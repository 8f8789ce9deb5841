"""Rule fig_influence: the gallery of the strongest influence pairs."""

from memgen.figures.jobs import write_fig_influence
from memgen.workflow import run


def work(smk):
    g, w = smk.params.gallery, smk.wildcards
    write_fig_influence(
        smk.input.influence,
        smk.input.summary,
        smk.input.index,
        w.dataset,
        w.arch,
        g["loader"],
        [smk.output.png, smk.output.pdf],
        g,
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
