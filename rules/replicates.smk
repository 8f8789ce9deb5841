# Replicates (config `replicates`): what the replicates' memorized sets share. Each replicate r >= 2 of a
# dataset is the dataset <name>.rep<r> of every other rule; Tables 1 and 3 combine them (memgen/utility/replicates.py).


rule memorized_replicates:
    input:
        unpack(memorized_replicates_inputs),
    output:
        report(
            paths.MEMORIZED_REPLICATES,
            caption="../report/memorized_replicates.rst",
            category="Tables",
        ),
    log:
        paths.LOG_MEMORIZED_REPLICATES,
    benchmark:
        paths.benchmark_of(paths.LOG_MEMORIZED_REPLICATES)
    conda:
        "../envs/memgen.yaml"
    params:
        memorized=mp.memorized(config, ALL_FIXES),
    script:
        "../workflow_scripts/memorized_replicates.py"


rule replicate_overlap:
    input:
        **paths.replicate_overlap_inputs(config),
    output:
        report(
            paths.REPLICATE_OVERLAP,
            caption="../report/replicate_overlap.rst",
            category="Tables",
        ),
    log:
        paths.LOG_REPLICATE_OVERLAP,
    benchmark:
        paths.benchmark_of(paths.LOG_REPLICATE_OVERLAP)
    conda:
        "../envs/memgen.yaml"
    params:
        memorized=mp.memorized(config, ALL_FIXES),
        pairs=[list(pair) for pair in paths.pairs(config)],
    script:
        "../workflow_scripts/replicate_overlap.py"
