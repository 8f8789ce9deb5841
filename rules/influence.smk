# Influence pairs: which training point each test prediction leans on, from one score ensemble's members
# (no new training; with influence.crossfit not the ones that chose the memorized sets), held against the
# duplicate detector and used to split Table 3 (memgen/influence/).


rule influence:
    input:
        unpack(influence_inputs),
    output:
        report(paths.INFLUENCE, caption="../report/influence.rst", category="Tables"),
        summary=paths.INFLUENCE_SUMMARY,
    log:
        paths.LOG_INFLUENCE,
    benchmark:
        paths.benchmark_of(paths.LOG_INFLUENCE)
    conda:
        "../envs/memgen.yaml"
    params:
        influence=mp.influence(config),
    script:
        "../workflow_scripts/influence.py"


rule influence_duplicates:
    input:
        unpack(influence_duplicates_inputs),
    output:
        report(
            paths.INFLUENCE_DUPLICATES,
            caption="../report/influence_duplicates.rst",
            category="Tables",
        ),
    log:
        paths.LOG_INFLUENCE_DUPLICATES,
    benchmark:
        paths.benchmark_of(paths.LOG_INFLUENCE_DUPLICATES)
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/influence_duplicates.py"


rule table3_split:
    input:
        unpack(table3_split_inputs),
        runs=table3_runs,
    output:
        report(
            paths.TABLE3_SPLIT, caption="../report/table3_split.rst", category="Tables"
        ),
    log:
        paths.LOG_TABLE3_SPLIT,
    benchmark:
        paths.benchmark_of(paths.LOG_TABLE3_SPLIT)
    conda:
        "../envs/memgen.yaml"
    params:
        split=table3_split_params,
    script:
        "../workflow_scripts/table3_split.py"
