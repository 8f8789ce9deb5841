"""Rule thresholds: τ of the null and fixed rules for one ensemble's scores (paper Eq. 3)."""

from memgen.scores.jobs import write_thresholds
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_thresholds(
        smk.input[0],
        smk.output[0],
        smk.params.threshold,
        smk.wildcards.dataset,
        smk.wildcards.arch,
        smk.wildcards.ens,
        smk.input.fit,
    ),
)
