from memgen.data.index import write_index
from memgen.workflow import run


def work(smk):
    spec = {k: v for k, v in smk.params.dataset.items() if k != "files"}
    return write_index(smk.wildcards.dataset, {"data_root": smk.config["data_root"], **spec}, smk.output[0])


run(snakemake, work)  # noqa: F821 (injected by Snakemake)
