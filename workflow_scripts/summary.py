"""Rule summary: the report's first page (memgen.report)."""

from memgen.report import pairs_from_inputs, write_summary
from memgen.workflow import run


def work(smk):
    pairs = pairs_from_inputs(dict(smk.input), smk.params.pairs)
    tables = [smk.input[t] if t in smk.input.keys() else None for t in ("table1", "table3")]
    return write_summary(*tables, pairs, smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
