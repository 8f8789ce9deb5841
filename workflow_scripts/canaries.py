from memgen.stages.ensemble import write_canaries
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_canaries(smk.params.dataset, smk.wildcards.dataset, smk.params.canaries, smk.output[0]),
)
