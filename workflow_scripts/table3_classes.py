"""Rule table3_classes: Table 3's variant per class (memorized vs each control)."""

from memgen.utility.jobs import write_table3_classes
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_table3_classes(
        smk.input.utility,
        smk.input.points,
        smk.input.removal,
        smk.input.scores,
        smk.input.index,
        smk.output[0],
    ),
)
