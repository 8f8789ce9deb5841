# Stage 1, data: the dataset index (N, labels, files), and canaries (the null of memorization).


# Light rules (canaries, mask blocks) read this index, never the pixels. Its params are the loader's
# settings plus a fingerprint of the files on disk, so a changed image re-indexes that dataset alone.
rule dataset_index:
    output:
        paths.INDEX,
    log:
        paths.LOG_INDEX,
    benchmark:
        paths.benchmark_of(paths.LOG_INDEX)
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
        paths.LOG_CANARIES,
    benchmark:
        paths.benchmark_of(paths.LOG_CANARIES)
    conda:
        "../envs/memgen.yaml"
    params:
        canaries=canary_params,
    script:
        "../workflow_scripts/canaries.py"
