# Stage 5, marginal utility (paper 4-5): removal sets, utility runs, per-variant accuracies, tables.


checkpoint removal:
    input:
        unpack(removal_inputs),
    output:
        paths.REMOVAL,
    log:
        paths.LOG_REMOVAL,
    benchmark:
        paths.benchmark_of(paths.LOG_REMOVAL)
    conda:
        "../envs/memgen.yaml"
    params:
        removal=removal_params,
    script:
        "../workflow_scripts/removal.py"


rule utility_runs:
    input:
        canaries=paths.CANARIES,
        removal=paths.REMOVAL,
    output:
        checkpoints=[fill(paths.UTILITY_CHECKPOINT, slot=s) for s in USLOTS],
        outputs=[fill(paths.UTILITY_RUN, slot=s) for s in USLOTS],
    log:
        paths.LOG_UTILITY_RUNS,
    benchmark:
        paths.benchmark_of(paths.LOG_UTILITY_RUNS)
    conda:
        "../envs/memgen.yaml"
    threads: 1  # one torch thread per job, jobs side by side: benchmarks/threads.py
    params:
        utility=utility_params,
        resume=paths.UTILITY_RESUME,
    script:
        "../workflow_scripts/utility_runs.py"


rule utility:
    input:
        unpack(variant_inputs),
        runs=variant_runs,
    output:
        table=paths.UTILITY,
        points=paths.UTILITY_POINTS,
    log:
        paths.LOG_UTILITY,
    benchmark:
        paths.benchmark_of(paths.LOG_UTILITY)
    conda:
        "../envs/memgen.yaml"
    params:
        dataset=dataset_params,
        variant=variant_params,
    script:
        "../workflow_scripts/utility.py"


rule table1:
    input:
        tables=paths.utility_tables(config, VARIANTS),
        points=paths.utility_tables(config, VARIANTS, paths.UTILITY_POINTS),
    output:
        report(paths.TABLE1, caption="../report/table1.rst", category="Tables"),
    log:
        paths.LOG_TABLE1,
    benchmark:
        paths.benchmark_of(paths.LOG_TABLE1)
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/table1.py"


rule table3:
    input:
        tables=paths.utility_tables(config, [config["ablation"]["table3"]]),
        points=paths.utility_tables(
            config, [config["ablation"]["table3"]], paths.UTILITY_POINTS
        ),
    output:
        report(paths.TABLE3, caption="../report/table3.rst", category="Tables"),
    log:
        paths.LOG_TABLE3,
    benchmark:
        paths.benchmark_of(paths.LOG_TABLE3)
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/table3.py"


rule table3_classes:
    input:
        unpack(table3_classes_inputs),
    output:
        report(
            paths.TABLE3_CLASSES,
            caption="../report/table3_classes.rst",
            category="Tables",
        ),
    log:
        paths.LOG_TABLE3_CLASSES,
    benchmark:
        paths.benchmark_of(paths.LOG_TABLE3_CLASSES)
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/table3_classes.py"
