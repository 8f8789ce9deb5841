"""Rule stability: agreement of disjoint sub-ensembles of the reference ensemble vs their size (App. A.1)."""

from memgen.analysis.jobs import write_stability
from memgen.workflow import run

run(
    snakemake,  # noqa: F821 (injected by Snakemake)
    lambda smk: write_stability(
        smk.input.masks,
        smk.input.correct,
        smk.output[0],
        smk.params.analysis,
        smk.wildcards.dataset,
        smk.wildcards.arch,
    ),
)
