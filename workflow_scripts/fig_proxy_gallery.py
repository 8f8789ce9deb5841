"""Rule fig_proxy_gallery: the images a proxy audit flags, per class, captioned with file, label, proxy."""

from memgen.figures.jobs import write_fig_proxy_gallery
from memgen.workflow import run


def work(smk):
    w, g = smk.wildcards, smk.params.gallery
    out = [smk.output.png, smk.output.pdf]
    return write_fig_proxy_gallery(
        smk.input.flagged, smk.input.index, w.dataset, w.arch, g["loader"], out, g["flag"]
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
