# Stage 6, figures (png for the report, pdf for papers). Numbers follow the paper's figures.


rule fig_sampling_bias:
    input:
        paths.per_pair(config, paths.SAMPLING_BIAS),
    output:
        png=report(
            paths.figure("fig1_sampling_bias", "png"),
            caption="../report/fig1.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig1_sampling_bias", "pdf"),
    log:
        "logs/figures/fig1_sampling_bias.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_sampling_bias.py"


rule fig_fpr:
    input:
        paths.per_pair(config, paths.DEFINITIONS),
    output:
        png=report(
            paths.figure("fig2_fpr", "png"),
            caption="../report/fig2.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig2_fpr", "pdf"),
    log:
        "logs/figures/fig2_fpr.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_fpr.py"


rule fig_sweep:
    input:
        paths.per_pair(config, paths.DEFINITIONS),
    output:
        png=report(
            paths.figure("fig8_sweep", "png"),
            caption="../report/fig8.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig8_sweep", "pdf"),
    log:
        "logs/figures/fig8_sweep.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_sweep.py"


rule fig_stability:
    input:
        paths.per_pair(config, paths.STABILITY),
    output:
        png=report(
            paths.figure("fig9_stability", "png"),
            caption="../report/fig9.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig9_stability", "pdf"),
    log:
        "logs/figures/fig9_stability.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_stability.py"


rule fig_null:
    input:
        scores=fill(paths.SCORES, ens=REFERENCE),
        thresholds=fill(paths.THRESHOLDS, ens=REFERENCE),
    output:
        png=report(
            paths.figure("fig3_null_{dataset}_{arch}", "png"),
            caption="../report/fig3.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig3_null_{dataset}_{arch}", "pdf"),
    log:
        "logs/figures/fig3_null_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_null.py"


rule fig_curves:
    input:
        unpack(ensemble_scores),
    output:
        png=report(
            paths.figure("fig7_curves_{dataset}_{arch}", "png"),
            caption="../report/fig7.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig7_curves_{dataset}_{arch}", "pdf"),
    log:
        "logs/figures/fig7_curves_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        analysis=analysis_params,
    script:
        "../workflow_scripts/fig_curves.py"


rule fig_leakage:
    input:
        scores=fill(paths.SCORES, ens=REFERENCE),
        duplicates=paths.DUPLICATES,
        index=paths.INDEX,  # names the files shown
    output:
        png=report(
            paths.figure("fig4_leakage_{dataset}_{arch}", "png"),
            caption="../report/fig4.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig4_leakage_{dataset}_{arch}", "pdf"),
    log:
        "logs/figures/fig4_leakage_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        dataset=dataset_params,
    script:
        "../workflow_scripts/fig_leakage.py"


rule fig_utility:
    input:
        paths.TABLE3,
    output:
        png=report(
            paths.figure("fig5_utility", "png"),
            caption="../report/fig5.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig5_utility", "pdf"),
    log:
        "logs/figures/fig5_utility.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_utility.py"


rule fig_removed:
    input:
        unpack(removed_inputs),
    output:
        png=report(
            paths.figure("fig10_removed_{dataset}_{arch}", "png"),
            caption="../report/fig10.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig10_removed_{dataset}_{arch}", "pdf"),
    log:
        "logs/figures/fig10_removed_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        definition=parse_removal_id(TABLE3)[1],
    script:
        "../workflow_scripts/fig_removed.py"


rule fig_seeds:
    input:
        fill(paths.UTILITY, variant=config["ablation"]["table3"]),
    output:
        png=report(
            paths.figure("fig11_seeds_{dataset}_{arch}", "png"),
            caption="../report/fig11.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig11_seeds_{dataset}_{arch}", "pdf"),
    log:
        "logs/figures/fig11_seeds_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_seeds.py"


rule fig_intervals:
    input:
        unpack(reference_scores),
    output:
        png=report(
            paths.figure("fig12_intervals_{dataset}_{arch}", "png"),
            caption="../report/fig12.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig12_intervals_{dataset}_{arch}", "pdf"),
    log:
        "logs/figures/fig12_intervals_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_intervals.py"


rule fig_fdr:
    input:
        unpack(fdr_figure_inputs),
    output:
        png=report(
            paths.figure("fig13_fdr_{dataset}_{arch}", "png"),
            caption="../report/fig13.rst",
            category="Figures",
        ),
        pdf=paths.figure("fig13_fdr_{dataset}_{arch}", "pdf"),
    log:
        "logs/figures/fig13_fdr_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_fdr.py"


rule fig_gallery:
    input:
        unpack(gallery_inputs),
    output:
        png=report(
            paths.figure("gallery_{dataset}_{arch}", "png"),
            caption="../report/gallery.rst",
            category="Figures",
        ),
        pdf=paths.figure("gallery_{dataset}_{arch}", "pdf"),
    log:
        "logs/figures/gallery_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        gallery=gallery_params,
    script:
        "../workflow_scripts/fig_gallery.py"


# The strongest influence pairs: training image above the test image it lifts (memgen/figures/influence.py).
rule fig_influence:
    input:
        influence=paths.INFLUENCE,
        summary=paths.INFLUENCE_SUMMARY,
        index=paths.INDEX,
    output:
        png=report(
            paths.figure("influence_{dataset}_{arch}", "png"),
            caption="../report/fig_influence.rst",
            category="Figures",
        ),
        pdf=paths.figure("influence_{dataset}_{arch}", "pdf"),
    log:
        "logs/figures/influence_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        gallery=influence_gallery_params,
    script:
        "../workflow_scripts/fig_influence.py"
