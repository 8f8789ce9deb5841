# Memorization proxies: a few models on the whole training set log each point's correctness and loss
# while they train, then their final loss, margin and input-loss curvature (memgen/proxies/record.py);
# the proxies are validated against this study's ensembles, leave-one-out and canaries.


rule proxy_log:
    input:
        index=paths.INDEX,
        canaries=paths.CANARIES,
    output:
        paths.PROXY_LOG,
    log:
        paths.LOG_PROXY_LOG,
    benchmark:
        paths.benchmark_of(paths.LOG_PROXY_LOG)
    conda:
        "../envs/memgen.yaml"
    threads: 1  # one torch thread per job, jobs side by side: benchmarks/threads.py
    params:
        proxies=proxy_model_params,
        resume=paths.PROXY_RESUME,
    script:
        "../workflow_scripts/proxy_log.py"


rule proxies:
    input:
        log=paths.PROXY_LOG,
        canaries=paths.CANARIES,
    output:
        paths.PROXIES,
    log:
        paths.LOG_PROXIES,
    benchmark:
        paths.benchmark_of(paths.LOG_PROXIES)
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/proxies.py"


rule proxies_validation:
    input:
        unpack(proxies_validation_inputs),
    output:
        report(
            paths.PROXIES_VALIDATION,
            caption="../report/proxies_validation.rst",
            category="Tables",
        ),
    log:
        paths.LOG_PROXIES_VALIDATION,
    benchmark:
        paths.benchmark_of(paths.LOG_PROXIES_VALIDATION)
    conda:
        "../envs/memgen.yaml"
    params:
        validation=proxies_validation_params,
    script:
        "../workflow_scripts/proxies_validation.py"


# A proxy audit's memorized set: natural points whose proxy reaches its canaries' (1 - alpha) quantile
rule memorized_proxy:
    input:
        proxies=paths.PROXIES,
        index=paths.INDEX,
    output:
        paths.MEMORIZED_PROXY,
    log:
        paths.LOG_MEMORIZED_PROXY,
    benchmark:
        paths.benchmark_of(paths.LOG_MEMORIZED_PROXY)
    conda:
        "../envs/memgen.yaml"
    params:
        flag=memorized_proxy_params,
    script:
        "../workflow_scripts/memorized_proxy.py"
