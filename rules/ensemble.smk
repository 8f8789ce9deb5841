# Stage 2, score ensembles: balanced masks, then members trained in shards (one job per shard).


rule masks:
    output:
        "results/{dataset}/{arch}/{ens}/masks.npz",
    params:
        masks=mask_params,
        dataset=dataset_params,
    log:
        "logs/{dataset}/{arch}/{ens}/masks.log",
    script:
        "../workflow_scripts/masks.py"


rule members:
    input:
        canaries="results/{dataset}/data/canaries.npz",
        masks="results/{dataset}/{arch}/{ens}/masks.npz",
    output:
        checkpoints=expand(
            "results/{{dataset}}/{{arch}}/{{ens}}/members/{{shard}}/{slot}/checkpoint.pt",
            slot=SLOTS,
        ),
        logits=expand(
            "results/{{dataset}}/{{arch}}/{{ens}}/members/{{shard}}/{slot}/logits.npz",
            slot=SLOTS,
        ),
    params:
        dataset=dataset_params,
        member=member_params,
        resume="results/{dataset}/{arch}/{ens}/members/{shard}/resume.pt",
    log:
        "logs/{dataset}/{arch}/{ens}/members/{shard}.log",
    benchmark:
        "logs/{dataset}/{arch}/{ens}/members/{shard}.benchmark.tsv"
    script:
        "../workflow_scripts/members.py"
