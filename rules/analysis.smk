# Stage 4, measurement analyses (paper 3.1-3.3): definitions, sampling bias, stability.


rule definitions:
    input:
        unpack(ensemble_scores),
    output:
        report(
            "results/{dataset}/{arch}/definitions.csv",
            caption="../report/definitions.rst",
            category="Tables",
        ),
    log:
        "logs/{dataset}/{arch}/definitions.log",
    conda:
        "../envs/memgen.yaml"
    params:
        analysis=analysis_params,
    script:
        "../workflow_scripts/definitions.py"


rule sampling_bias:
    input:
        unpack(ensemble_scores),
    output:
        report(
            "results/{dataset}/{arch}/sampling_bias.csv",
            caption="../report/sampling_bias.rst",
            category="Tables",
        ),
    log:
        "logs/{dataset}/{arch}/sampling_bias.log",
    conda:
        "../envs/memgen.yaml"
    params:
        analysis=analysis_params,
    script:
        "../workflow_scripts/sampling_bias.py"


rule stability:
    input:
        unpack(reference_correct),
    output:
        report(
            "results/{dataset}/{arch}/stability.csv",
            caption="../report/stability.rst",
            category="Tables",
        ),
    log:
        "logs/{dataset}/{arch}/stability.log",
    conda:
        "../envs/memgen.yaml"
    params:
        analysis=stability_params,
    script:
        "../workflow_scripts/stability.py"
