"""Rule removal (checkpoint): memorized and random removal sets of one removal id."""

from memgen.utility.jobs import write_removal
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_removal(smk.input.scores, smk.input.thresholds, smk.output[0], smk.params.removal),
)
