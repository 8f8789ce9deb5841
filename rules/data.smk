# Stage 1, data: the dataset index (N, labels, files), canaries (the null of memorization) and the list of
# test points that leak from training.


# Light rules (canaries, mask blocks) read this index, never the pixels. Its params are the loader's
# settings plus a fingerprint of the files on disk, so a changed image re-indexes that dataset alone.
rule dataset_index:
    output:
        paths.INDEX,
    log:
        "logs/{dataset}/index.log",
    conda:
        "../envs/memgen.yaml"
    params:
        dataset=index_params,
    script:
        "../workflow_scripts/dataset_index.py"


rule canaries:
    input:
        paths.INDEX,
    output:
        paths.CANARIES,
    log:
        "logs/{dataset}/canaries.log",
    conda:
        "../envs/memgen.yaml"
    params:
        canaries=canary_params,
    script:
        "../workflow_scripts/canaries.py"


rule duplicates:
    input:
        unpack(duplicates_source),
    output:
        paths.DUPLICATES,
    log:
        "logs/{dataset}/duplicates.log",
    conda:
        "../envs/memgen.yaml"
    params:
        dataset=duplicates_params,
    script:
        "../workflow_scripts/duplicates.py"
