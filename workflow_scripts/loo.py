"""Rule loo: loo.csv, the leave-one-out scores of every chosen point."""

from memgen.loo.jobs import write_loo
from memgen.loo.truth import STRATA
from memgen.workflow import run


def work(smk):
    keys = ("plan", "index", "canaries", "full", "ref_masks", "ref_correct")
    paths = {k: smk.input[k] for k in keys if k in smk.input.keys()}
    paths["strata"] = {s: list(smk.input[s]) for s in STRATA if s in smk.input.keys()}
    return write_loo(paths, smk.output[0], smk.wildcards.dataset, smk.wildcards.arch)


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
