"""Rule utility: per-seed accuracies after memorized vs random removal for one variant."""

from memgen.utility.jobs import write_utility
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_utility(
        smk.input.removal,
        smk.input.get("duplicates"),
        list(smk.input.runs),
        smk.output.table,
        smk.wildcards.dataset,
        smk.params.dataset,
        smk.params.variant,
        smk.output.points,
    ),
)
