# Stage 3, scores: Eq. 1 and Eq. 2 per training point, and the thresholds that call a point memorized.


rule scores:
    input:
        canaries="results/{dataset}/data/canaries.npz",
        masks="results/{dataset}/{arch}/{ens}/masks.npz",
        outputs=member_outputs,
        index="results/{dataset}/data/index.npz",  # each point's file: the `path` column
    output:
        scores="results/{dataset}/{arch}/{ens}/scores.csv",
        correct="results/{dataset}/{arch}/{ens}/correct.npz",
    log:
        "logs/{dataset}/{arch}/{ens}/scores.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/scores.py"


# After members train, before any score is trusted: do members fit their own training points, are their
# ReLU units alive, did the loss stay finite, do they fit some canaries? (memgen/scores/fitcheck.py)
rule fitcheck:
    input:
        canaries="results/{dataset}/data/canaries.npz",
        masks="results/{dataset}/{arch}/{ens}/masks.npz",
        correct="results/{dataset}/{arch}/{ens}/correct.npz",
        members=fitcheck_members,
    output:
        "results/{dataset}/{arch}/{ens}/fit.json",
    log:
        "logs/{dataset}/{arch}/{ens}/fitcheck.log",
    conda:
        "../envs/memgen.yaml"
    params:
        fitcheck=fitcheck_params,
    script:
        "../workflow_scripts/fitcheck.py"


rule thresholds:
    input:
        "results/{dataset}/{arch}/{ens}/scores.csv",
        fit="results/{dataset}/{arch}/{ens}/fit.json",
    output:
        "results/{dataset}/{arch}/{ens}/thresholds.json",
    log:
        "logs/{dataset}/{arch}/{ens}/thresholds.log",
    conda:
        "../envs/memgen.yaml"
    params:
        threshold=threshold_params,
    script:
        "../workflow_scripts/thresholds.py"
