# Stage 5, marginal utility (paper 4-5): removal sets, utility runs, per-variant accuracies, tables.


checkpoint removal:
    input:
        unpack(removal_inputs),
    output:
        "results/{dataset}/{arch}/removal/{removal}.npz",
    log:
        "logs/{dataset}/{arch}/removal/{removal}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        removal=removal_params,
    script:
        "../workflow_scripts/removal.py"


rule utility_runs:
    input:
        canaries="results/{dataset}/data/canaries.npz",
        removal="results/{dataset}/{arch}/removal/{removal}.npz",
    output:
        checkpoints=expand(
            "results/{{dataset}}/{{arch}}/utility/{{removal}}/{{condition}}/{{shard}}/{slot}/checkpoint.pt",
            slot=USLOTS,
        ),
        outputs=expand(
            "results/{{dataset}}/{{arch}}/utility/{{removal}}/{{condition}}/{{shard}}/{slot}/outputs.npz",
            slot=USLOTS,
        ),
    log:
        "logs/{dataset}/{arch}/utility/{removal}/{condition}/{shard}.log",
    benchmark:
        "logs/{dataset}/{arch}/utility/{removal}/{condition}/{shard}.benchmark.tsv"
    conda:
        "../envs/memgen.yaml"
    threads: 2
    params:
        utility=utility_params,
        resume="results/{dataset}/{arch}/utility/{removal}/{condition}/{shard}/resume.pt",
    script:
        "../workflow_scripts/utility_runs.py"


rule utility:
    input:
        unpack(variant_inputs),
        runs=variant_runs,
    output:
        "results/{dataset}/{arch}/utility/{variant}.csv",
    log:
        "logs/{dataset}/{arch}/utility/{variant}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        dataset=dataset_params,
        variant=variant_params,
    script:
        "../workflow_scripts/utility.py"


rule table1:
    input:
        table1_inputs,
    output:
        report("results/table1.csv", caption="../report/table1.rst", category="Tables"),
    log:
        "logs/table1.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/table1.py"


rule table3:
    input:
        table3_inputs,
    output:
        report("results/table3.csv", caption="../report/table3.rst", category="Tables"),
    log:
        "logs/table3.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/table3.py"
