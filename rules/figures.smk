# Stage 6, figures (png for the report, pdf for papers). Numbers follow the paper's figures.


# Rule fig_<x> draws its figure with workflow_scripts/fig_<x>.py: one figure over the study, or one per
# dataset x arch (the stems with {dataset}_{arch}).
FIGURES = {
    "fig_sampling_bias": figure_rule(
        "fig1_sampling_bias", "fig1", paths.per_pair(config, paths.SAMPLING_BIAS)
    ),
    "fig_fpr": figure_rule(
        "fig2_fpr", "fig2", paths.per_pair(config, paths.DEFINITIONS)
    ),
    "fig_sweep": figure_rule(
        "fig8_sweep", "fig8", paths.per_pair(config, paths.DEFINITIONS)
    ),
    "fig_stability": figure_rule(
        "fig9_stability", "fig9", paths.per_pair(config, paths.STABILITY)
    ),
    "fig_null": figure_rule(
        "fig3_null_{dataset}_{arch}",
        "fig3",
        scores=fill(paths.SCORES, ens=REFERENCE),
        thresholds=fill(paths.THRESHOLDS, ens=REFERENCE),
    ),
    "fig_curves": figure_rule(
        "fig7_curves_{dataset}_{arch}",
        "fig7",
        unpack(ensemble_scores),
        params={"analysis": analysis_params},
    ),
    "fig_leakage": figure_rule(
        "fig4_leakage_{dataset}_{arch}",
        "fig4",
        scores=fill(paths.SCORES, ens=REFERENCE),
        duplicates=paths.DUPLICATES,
        index=paths.INDEX,  # names the files shown
        params={"dataset": dataset_params},
    ),
    "fig_utility": figure_rule("fig5_utility", "fig5", paths.TABLE3),
    "fig_removed": figure_rule(
        "fig10_removed_{dataset}_{arch}",
        "fig10",
        unpack(removed_inputs),
        params={"definition": parse_removal_id(TABLE3)[1]},
    ),
    "fig_seeds": figure_rule(
        "fig11_seeds_{dataset}_{arch}",
        "fig11",
        fill(paths.UTILITY, variant=config["ablation"]["table3"]),
    ),
    "fig_intervals": figure_rule(
        "fig12_intervals_{dataset}_{arch}", "fig12", unpack(reference_scores)
    ),
    "fig_fdr": figure_rule(
        "fig13_fdr_{dataset}_{arch}", "fig13", unpack(fdr_figure_inputs)
    ),
    "fig_gallery": figure_rule(
        "gallery_{dataset}_{arch}",
        "gallery",
        unpack(gallery_inputs),
        params={"gallery": gallery_params},
    ),
    # the strongest influence pairs: training image above the test image it lifts
    # (memgen/figures/influence.py)
    "fig_influence": figure_rule(
        "influence_{dataset}_{arch}",
        "fig_influence",
        influence=paths.INFLUENCE,
        summary=paths.INFLUENCE_SUMMARY,
        index=paths.INDEX,
        params={"gallery": influence_gallery_params},
    ),
    # memorization proxies against the ensembles (memgen/figures/proxies.py)
    "fig_proxies": figure_rule(
        "proxies_{dataset}_{arch}", "fig_proxies", validation=paths.PROXIES_VALIDATION
    ),
    # a proxy audit's flagged images per class (memgen/figures/gallery.py)
    "fig_proxy_gallery": figure_rule(
        "proxy_gallery_{dataset}_{arch}",
        "fig_proxy_gallery",
        flagged=paths.MEMORIZED_PROXY,
        index=paths.INDEX,
        params={"gallery": proxy_gallery_params},
    ),
}


# One rule per row. Snakemake evaluates the script directive again when a job runs, where a loop variable
# holds its last value: `rule` is the loop's rule name here and, in the job, the name Snakemake hands it.
for rule, fig in FIGURES.items():

    rule:
        name:
            rule
        input:
            *fig["inputs"],
            **fig["named"],
        output:
            png=report(
                paths.figure(fig["stem"], "png"),
                caption=fig["caption"],
                category="Figures",
            ),
            pdf=paths.figure(fig["stem"], "pdf"),
        log:
            paths.figure_log(fig["stem"]),
        benchmark:
            paths.benchmark_of(paths.figure_log(fig["stem"]))
        conda:
            "../envs/memgen.yaml"
        params:
            **fig["params"],
        script:
            f"../workflow_scripts/{rule}.py"
