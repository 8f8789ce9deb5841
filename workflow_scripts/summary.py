"""Rule summary: the report's first page (memgen.report)."""

from memgen.report import pairs_from_inputs, write_summary
from memgen.workflow import run


def work(smk):
    pairs = pairs_from_inputs(dict(smk.input), smk.params.pairs)
    return write_summary(smk.input.table1, smk.input.table3, pairs, smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
