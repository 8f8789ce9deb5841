# Exact leave-one-out truth on small datasets (memgen/loo/truth.py): M models on the whole training set, M
# without each chosen point (the top points of each half of the reference ensemble, and a seeded random
# sample of natural points); loo.csv holds every definition's leave-one-out scores, which sampling_bias.csv
# measures every rate against.


# Read before any leave-one-out job is planned: datasets above loo.max_train_points (ImageNet, CIFAR under
# the defaults) get a header-only loo.csv and train nothing.
checkpoint loo_plan:
    input:
        paths.INDEX,
    output:
        paths.LOO_PLAN,
    log:
        paths.LOG_LOO_PLAN,
    benchmark:
        paths.benchmark_of(paths.LOG_LOO_PLAN)
    conda:
        "../envs/memgen.yaml"
    params:
        plan=mp.loo_plan(config),
    script:
        "../workflow_scripts/loo_plan.py"


rule loo_full:
    input:
        index=paths.INDEX,
        canaries=paths.CANARIES,
    output:
        paths.LOO_FULL,
    log:
        paths.LOG_LOO_FULL,
    benchmark:
        paths.benchmark_of(paths.LOG_LOO_FULL)
    conda:
        "../envs/memgen.yaml"
    threads: 1  # one torch thread per job, jobs side by side: benchmarks/threads.py
    params:
        loo=loo_model_params,
        resume=paths.LOO_FULL_RESUME,
    script:
        "../workflow_scripts/loo_full.py"


# One job per POINTS_PER_JOB positions of a stratum's ranking; its points follow from its inputs and
# positions alone (no points file between them), so a larger loo.random only adds jobs.
rule loo_removed:
    input:
        unpack(loo_removed_inputs),
    output:
        paths.LOO_REMOVED,
    log:
        paths.LOG_LOO_REMOVED,
    benchmark:
        paths.benchmark_of(paths.LOG_LOO_REMOVED)
    conda:
        "../envs/memgen.yaml"
    threads: 1  # one torch thread per job, jobs side by side: benchmarks/threads.py
    params:
        loo=loo_removed_params,
        resume=paths.LOO_REMOVED_RESUME,
    script:
        "../workflow_scripts/loo_removed.py"


rule loo:
    input:
        unpack(loo_inputs),
    output:
        report(
            paths.LOO,
            caption="../report/loo.rst",
            category="Tables",
        ),
    log:
        paths.LOG_LOO,
    benchmark:
        paths.benchmark_of(paths.LOG_LOO)
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/loo.py"
