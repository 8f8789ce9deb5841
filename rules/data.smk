# Stage 1, data: canaries (the null of memorization) and the list of test points that leak from training.


rule canaries:
    output:
        "results/{dataset}/data/canaries.npz",
    log:
        "logs/{dataset}/canaries.log",
    conda:
        "../envs/memgen.yaml"
    params:
        dataset=dataset_params,
        canaries=canary_params,
    script:
        "../workflow_scripts/canaries.py"


rule duplicates:
    input:
        unpack(duplicates_source),
    output:
        "results/{dataset}/data/duplicates.csv",
    log:
        "logs/{dataset}/duplicates.log",
    conda:
        "../envs/memgen.yaml"
    params:
        dataset=dataset_params,
        threshold=config["utility"]["duplicate_threshold"],
    script:
        "../workflow_scripts/duplicates.py"
