# Stage 2, score ensembles: balanced masks, then members trained in shards (one job per shard).


# A block depends on (seed, block index, rate, block size) only, never on the ensemble's size K:
# raising K adds blocks (and shards) and leaves every existing member's inputs untouched.
rule mask_block:
    output:
        "results/{dataset}/{arch}/{ens}/masks/{block}.npz",
    log:
        "logs/{dataset}/{arch}/{ens}/masks/{block}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        masks=mask_params,
        dataset=dataset_params,
    script:
        "../workflow_scripts/mask_block.py"


rule masks:
    input:
        mask_blocks,
    output:
        "results/{dataset}/{arch}/{ens}/masks.npz",
    log:
        "logs/{dataset}/{arch}/{ens}/masks.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/masks.py"


rule members:
    input:
        canaries="results/{dataset}/data/canaries.npz",
        blocks=shard_blocks,
    output:
        checkpoints=expand(
            "results/{{dataset}}/{{arch}}/{{ens}}/members/{{shard}}/{slot}/checkpoint.pt",
            slot=SLOTS,
        ),
        logits=expand(
            "results/{{dataset}}/{{arch}}/{{ens}}/members/{{shard}}/{slot}/logits.npz",
            slot=SLOTS,
        ),
    log:
        "logs/{dataset}/{arch}/{ens}/members/{shard}.log",
    benchmark:
        "logs/{dataset}/{arch}/{ens}/members/{shard}.benchmark.tsv"
    conda:
        "../envs/memgen.yaml"
    threads: 2
    params:
        dataset=dataset_params,
        member=member_params,
        resume="results/{dataset}/{arch}/{ens}/members/{shard}/resume.pt",
    script:
        "../workflow_scripts/members.py"
