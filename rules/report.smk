# Stage 7, the HTML report's first page: the study's answer in numbers and the audit gallery
# (memgen.report). `snakemake --report` opens on it once it exists (report_page in rules/common.smk).


rule summary:
    input:
        unpack(summary_inputs),
    output:
        "results/summary.rst",
    log:
        "logs/summary.log",
    conda:
        "../envs/memgen.yaml"
    params:
        pairs=summary_pairs,
    script:
        "../workflow_scripts/summary.py"
