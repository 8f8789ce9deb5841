"""Rule summary: the report's first page (memgen.report; a proxy audit's: memgen.proxy_report)."""

from memgen.proxy_report import write_proxy_summary
from memgen.report import pairs_from_inputs, write_summary
from memgen.workflow import run


def work(smk):
    pairs = pairs_from_inputs(dict(smk.input), smk.params.pairs)
    if smk.params.proxy:  # scope proxy: no ensemble, no table
        return write_proxy_summary(pairs, smk.params.proxy["flag"], smk.params.shipped, smk.output[0])
    tables = [smk.input[t] if t in smk.input.keys() else None for t in ("table1", "table3")]
    return write_summary(*tables, pairs, smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
