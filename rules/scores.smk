# Stage 3, scores: Eq. 1 and Eq. 2 per training point, and the thresholds that call a point memorized.


rule scores:
    input:
        canaries=paths.CANARIES,
        masks=paths.MASKS,
        outputs=member_outputs,
        index=paths.INDEX,  # each point's file: the `path` column
    output:
        scores=paths.SCORES,
        correct=paths.CORRECT,
    log:
        paths.LOG_SCORES,
    benchmark:
        paths.benchmark_of(paths.LOG_SCORES)
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/scores.py"


# After members train, before any score is trusted: do members fit their own training points, are their
# ReLU units alive, did the loss stay finite, do they fit some canaries? (memgen/scores/fitcheck.py)
rule fitcheck:
    input:
        canaries=paths.CANARIES,
        masks=paths.MASKS,
        correct=paths.CORRECT,
        members=fitcheck_members,
    output:
        paths.FIT,
    log:
        paths.LOG_FITCHECK,
    benchmark:
        paths.benchmark_of(paths.LOG_FITCHECK)
    conda:
        "../envs/memgen.yaml"
    params:
        fitcheck=fitcheck_params,
    script:
        "../workflow_scripts/fitcheck.py"


rule thresholds:
    input:
        paths.SCORES,
        fit=paths.FIT,
    output:
        paths.THRESHOLDS,
    log:
        paths.LOG_THRESHOLDS,
    benchmark:
        paths.benchmark_of(paths.LOG_THRESHOLDS)
    conda:
        "../envs/memgen.yaml"
    params:
        threshold=mp.thresholds(config),
    script:
        "../workflow_scripts/thresholds.py"


# The test rule against its level q, beside Eq. 3: its set and canary power per q, and the same test on fake
# masks (member rows permuted), where every flag is false (memgen/scores/fdr.py)
rule fdr:
    input:
        scores=paths.SCORES,
        masks=paths.MASKS,
        correct=paths.CORRECT,
    output:
        report(paths.FDR, caption="../report/fdr.rst", category="Tables"),
    log:
        paths.LOG_FDR,
    benchmark:
        paths.benchmark_of(paths.LOG_FDR)
    conda:
        "../envs/memgen.yaml"
    params:
        fdr=fdr_params,
    script:
        "../workflow_scripts/fdr.py"
