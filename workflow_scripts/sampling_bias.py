"""Rule sampling_bias: per-point score error of each rate against the reference ensemble (paper §3.1)."""

from memgen.stages.analysis import write_sampling_bias
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_sampling_bias(
        dict(smk.input), smk.output[0], smk.params.analysis, smk.wildcards.dataset, smk.wildcards.arch
    ),
)
