# Stage 4, measurement analyses (paper 3.1-3.3): definitions, sampling bias, stability; and the memorized
# set as a list of files a user can open (memorized.csv).


rule definitions:
    input:
        unpack(ensemble_scores),
    output:
        report(
            paths.DEFINITIONS,
            caption="../report/definitions.rst",
            category="Tables",
        ),
    log:
        paths.LOG_DEFINITIONS,
    benchmark:
        paths.benchmark_of(paths.LOG_DEFINITIONS)
    conda:
        "../envs/memgen.yaml"
    params:
        analysis=analysis_params,
    script:
        "../workflow_scripts/definitions.py"


rule sampling_bias:
    input:
        unpack(ensemble_scores),
        loo=paths.LOO,  # exact leave-one-out truth (header only when skipped)
    output:
        report(
            paths.SAMPLING_BIAS,
            caption="../report/sampling_bias.rst",
            category="Tables",
        ),
    log:
        paths.LOG_SAMPLING_BIAS,
    benchmark:
        paths.benchmark_of(paths.LOG_SAMPLING_BIAS)
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
            paths.STABILITY,
            caption="../report/stability.rst",
            category="Tables",
        ),
    log:
        paths.LOG_STABILITY,
    benchmark:
        paths.benchmark_of(paths.LOG_STABILITY)
    conda:
        "../envs/memgen.yaml"
    params:
        analysis=stability_params,
    script:
        "../workflow_scripts/stability.py"


# The "all fixes" variant's memorized set (high_rate ensemble, ablation.definition, null rule), each point
# with its file, label, scores and the class its held-out members predict instead (from the members' outputs).
rule memorized:
    input:
        unpack(memorized_inputs),
    output:
        report(
            paths.MEMORIZED,
            caption="../report/memorized.rst",
            category="Tables",
        ),
    log:
        paths.LOG_MEMORIZED,
    benchmark:
        paths.benchmark_of(paths.LOG_MEMORIZED)
    conda:
        "../envs/memgen.yaml"
    params:
        memorized=mp.memorized(config, ALL_FIXES),
    script:
        "../workflow_scripts/memorized.py"
