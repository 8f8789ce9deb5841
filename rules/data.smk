# Stage 1, data: canaries (the null of memorization) and the list of test points that leak from training.


rule canaries:
    output:
        "results/{dataset}/data/canaries.npz",
    params:
        dataset=dataset_params,
        canaries=canary_params,
    log:
        "logs/{dataset}/canaries.log",
    script:
        "../workflow_scripts/canaries.py"


rule duplicates:
    input:
        unpack(duplicates_source),
    output:
        "results/{dataset}/data/duplicates.csv",
    params:
        dataset=dataset_params,
        threshold=config["utility"]["duplicate_threshold"],
    log:
        "logs/{dataset}/duplicates.log",
    script:
        "../workflow_scripts/duplicates.py"
