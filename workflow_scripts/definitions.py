"""Rule definitions: FPR@95%TPR, AUROC, AUPR of fz and frac per ensemble (paper §3.2)."""

from memgen.analysis.jobs import write_definitions
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_definitions(
        dict(smk.input), smk.output[0], smk.params.analysis, smk.wildcards.dataset, smk.wildcards.arch
    ),
)
