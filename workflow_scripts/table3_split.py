"""Rule table3_split: Table 3's difference on the test points with and without a high-influence memorized
partner."""

from memgen.influence.jobs import write_table3_split
from memgen.workflow import run


def work(smk):
    i, w = smk.input, smk.wildcards
    params = {"dataset": w.dataset, "arch": w.arch, **smk.params.split}
    duplicates = i.duplicates if "duplicates" in i.keys() else None
    write_table3_split(
        i.influence, i.summary, i.removal, list(i.runs), i.index, duplicates, smk.output[0], params
    )


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
