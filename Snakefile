# memgen: which training examples does a classifier memorize, and does it need them?
# Stages, in order: data -> ensemble -> scores -> analysis -> utility -> influence -> figures (one .smk each).
# Default study: `snakemake --cores 2 all` (digits, CPU). Paper: `--configfile configs/paper.yaml`.
from snakemake.utils import min_version

min_version("9.0")


# --configfile replaces the default study rather than being merged into it (Snakemake's default would
# merge configs/paper.yaml into config.yaml and study digits too).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


include: "rules/common.smk"  # validates the config against schemas/config.schema.yaml
include: "rules/runlock.smk"  # one run at a time per results folder
include: "rules/data.smk"
include: "rules/ensemble.smk"
include: "rules/scores.smk"
include: "rules/loo.smk"  # exact leave-one-out truth on small datasets
include: "rules/analysis.smk"
include: "rules/utility.smk"
include: "rules/influence.smk"  # influence pairs from the members already trained
include: "rules/proxies.smk"  # memorization proxies from a few trainings, validated
include: "rules/replicates.smk"  # what the replicates' memorized sets share
include: "rules/figures.smk"
include: "rules/report.smk"


# `snakemake --report results/report.html` opens on the study's answer (results/summary.rst) once it exists
report: report_page()


# Every ensemble's scores and thresholds, the analyses, the removal sets, the tables, the figures and the
# summary (memgen.paths.targets says why the removal sets are targets).
rule all:
    input:
        paths.targets(config, REMOVALS.values()),
