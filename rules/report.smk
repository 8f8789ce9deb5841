# Stage 7, the HTML report's first page: the study's answer in numbers and the audit gallery
# (memgen.report). `snakemake --report` opens on it once it exists (report_page in rules/common.smk).


rule summary:
    input:
        **paths.summary_inputs(config, TABLE3),
    output:
        paths.SUMMARY,
    log:
        paths.LOG_SUMMARY,
    benchmark:
        paths.benchmark_of(paths.LOG_SUMMARY)
    conda:
        "../envs/memgen.yaml"
    params:
        pairs=[list(pair) for pair in paths.pairs(config)],
        proxy=mp.proxy_summary(config),  # a proxy audit's proxy; empty in other scopes
        shipped=shipped_validation(),  # the proxies' validation memgen ships (docs/results/proxies/)
    script:
        "../workflow_scripts/summary.py"
