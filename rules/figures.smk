# Stage 6, figures (png for the report, pdf for papers). Numbers follow the paper's figures.


rule fig_sampling_bias:
    input:
        all_sampling_bias,
    output:
        png=report(
            "results/figures/fig1_sampling_bias.png",
            caption="../report/fig1.rst",
            category="Figures",
        ),
        pdf="results/figures/fig1_sampling_bias.pdf",
    log:
        "logs/figures/fig1_sampling_bias.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_sampling_bias.py"


rule fig_fpr:
    input:
        all_definitions,
    output:
        png=report(
            "results/figures/fig2_fpr.png",
            caption="../report/fig2.rst",
            category="Figures",
        ),
        pdf="results/figures/fig2_fpr.pdf",
    log:
        "logs/figures/fig2_fpr.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_fpr.py"


rule fig_sweep:
    input:
        all_definitions,
    output:
        png=report(
            "results/figures/fig8_sweep.png",
            caption="../report/fig8.rst",
            category="Figures",
        ),
        pdf="results/figures/fig8_sweep.pdf",
    log:
        "logs/figures/fig8_sweep.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_sweep.py"


rule fig_stability:
    input:
        all_stability,
    output:
        png=report(
            "results/figures/fig9_stability.png",
            caption="../report/fig9.rst",
            category="Figures",
        ),
        pdf="results/figures/fig9_stability.pdf",
    log:
        "logs/figures/fig9_stability.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_stability.py"


rule fig_null:
    input:
        scores=f"results/{{dataset}}/{{arch}}/{mc.reference(config)}/scores.csv",
        thresholds=f"results/{{dataset}}/{{arch}}/{mc.reference(config)}/thresholds.json",
    output:
        png=report(
            "results/figures/fig3_null_{dataset}_{arch}.png",
            caption="../report/fig3.rst",
            category="Figures",
        ),
        pdf="results/figures/fig3_null_{dataset}_{arch}.pdf",
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
            "results/figures/fig7_curves_{dataset}_{arch}.png",
            caption="../report/fig7.rst",
            category="Figures",
        ),
        pdf="results/figures/fig7_curves_{dataset}_{arch}.pdf",
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
        scores=f"results/{{dataset}}/{{arch}}/{mc.reference(config)}/scores.csv",
        duplicates="results/{dataset}/data/duplicates.csv",
        index="results/{dataset}/data/index.npz",  # names the files shown
    output:
        png=report(
            "results/figures/fig4_leakage_{dataset}_{arch}.png",
            caption="../report/fig4.rst",
            category="Figures",
        ),
        pdf="results/figures/fig4_leakage_{dataset}_{arch}.pdf",
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
        "results/table3.csv",
    output:
        png=report(
            "results/figures/fig5_utility.png",
            caption="../report/fig5.rst",
            category="Figures",
        ),
        pdf="results/figures/fig5_utility.pdf",
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
            "results/figures/fig10_removed_{dataset}_{arch}.png",
            caption="../report/fig10.rst",
            category="Figures",
        ),
        pdf="results/figures/fig10_removed_{dataset}_{arch}.pdf",
    log:
        "logs/figures/fig10_removed_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        definition=table3_definition,
    script:
        "../workflow_scripts/fig_removed.py"


rule fig_seeds:
    input:
        f"results/{{dataset}}/{{arch}}/utility/{config['ablation']['table3']}.csv",
    output:
        png=report(
            "results/figures/fig11_seeds_{dataset}_{arch}.png",
            caption="../report/fig11.rst",
            category="Figures",
        ),
        pdf="results/figures/fig11_seeds_{dataset}_{arch}.pdf",
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
            "results/figures/fig12_intervals_{dataset}_{arch}.png",
            caption="../report/fig12.rst",
            category="Figures",
        ),
        pdf="results/figures/fig12_intervals_{dataset}_{arch}.pdf",
    log:
        "logs/figures/fig12_intervals_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    script:
        "../workflow_scripts/fig_intervals.py"


rule fig_gallery:
    input:
        unpack(gallery_inputs),
    output:
        png=report(
            "results/figures/gallery_{dataset}_{arch}.png",
            caption="../report/gallery.rst",
            category="Figures",
        ),
        pdf="results/figures/gallery_{dataset}_{arch}.pdf",
    log:
        "logs/figures/gallery_{dataset}_{arch}.log",
    conda:
        "../envs/memgen.yaml"
    params:
        gallery=gallery_params,
    script:
        "../workflow_scripts/fig_gallery.py"
