# Helpers of the rules: the config's validation, the wildcard constraints, and named input and params
# functions that only look values up: where files live in memgen/paths.py, what each rule's outputs depend
# on in memgen/params.py (both tested without Snakemake, tests/test_params.py).
import functools
import json
import sys
from pathlib import Path

import numpy as np

import memgen.config as mc
import memgen.params as mp
from memgen import paths
from memgen.errors import MemgenError
from memgen.paths import fill, parse_removal_id
from memgen.utility.variants import CONDITIONS as PAPER_CONDITIONS
from memgen.utility.variants import VARIANTS, removal_id, run_conditions, test_set

try:
    mc.validate(config)
except MemgenError as e:
    sys.exit(f"memgen: {e}")

DATASETS = list(config["datasets"])
ENSEMBLES = list(config["ensembles"])
ARCHS = sorted({a for d in DATASETS for a in config["datasets"][d]["archs"]})
REFERENCE = mc.reference(config)
BLOCK = config["masks"]["block_size"]
# divides BLOCK (checked): a member job trains one slice of one mask block
SHARD = config["shard_size"]
SLICES = list(range(0, BLOCK, SHARD))
# utility runs: the seeds of one condition are trained in shards of utility.shard_size; the rule's outputs
# are fixed when the Snakefile is parsed, so the shard size is the configured one (seeds fill whole shards)
USLOTS = list(range(config["utility"]["shard_size"]))
# each variant's removal set; "all" names the memorized set memorized.csv and the gallery show, the
# ablation.table3 variant's the one Table 3, Fig. 10 and the summary rest on
REMOVALS = {v: removal_id(config, v) for v in VARIANTS}
ALL_FIXES, TABLE3 = REMOVALS["all"], REMOVALS[config["ablation"]["table3"]]

try:  # a profile names rules: its `members` resources hold for every slice rule (rules/ensemble.smk)
    mp.share_profile_resources(workflow, "members", [f"members_{f}" for f in SLICES])
except MemgenError as e:
    sys.exit(f"memgen: {e}")


wildcard_constraints:
    dataset=paths.one_of(DATASETS),
    arch=paths.one_of(ARCHS),
    ens=paths.one_of(ENSEMBLES),
    shard=r"\d+",
    block=r"\d+",
    slot=r"\d+",
    group=r"\d+",
    variant=paths.one_of(VARIANTS),
    condition=paths.one_of(paths.UTILITY_CONDITIONS),
    stratum=paths.one_of(paths.STRATA),


# ---- params (memgen/params.py; docs/rerun.md: which key reruns what) ----
@functools.cache  # one scan of an image folder per dataset, however often Snakemake asks
def dataset_index_params(dataset):
    return mp.index(config, dataset)


def index_params(w):
    return dict(dataset_index_params(w.dataset))


def dataset_params(w):
    return mp.loader(config, w.dataset)


def duplicates_params(w):
    return mp.duplicates(config, w.dataset)


def canary_params(w):
    return mp.canaries(config, w.dataset)


def mask_params(w):
    return mp.masks(config, w.dataset, w.ens)


def ensemble_size(w):
    return mc.members(config, w.dataset, w.ens)


def member_params(w):
    return mp.member(config, w.dataset, w.arch, w.ens)


def fitcheck_params(w):
    return mp.fitcheck(config, w.dataset, w.arch)


def fdr_params(w):
    return mp.fdr(config, w.dataset, w.arch, w.ens)


def loo_model_params(w):
    return mp.loo_model(config, w.dataset, w.arch)


def loo_removed_params(w):
    return mp.loo_removed(config, w.dataset, w.arch, w.stratum, int(w.group))


def analysis_params(w):
    return mp.analysis(config, w.dataset, w.arch)


def stability_params(w):
    return mp.stability(config, w.dataset, w.arch)


def gallery_params(w):
    return mp.gallery(config, w.dataset, ALL_FIXES)


def removal_params(w):
    return mp.removal(config, w.dataset, w.arch, w.removal)


def utility_params(w):
    return mp.utility_runs(config, w.dataset, w.arch, int(w.shard))


def variant_params(w):
    conditions = run_conditions(config, REMOVALS[w.variant])
    return mp.variant(
        config, w.dataset, test_set(config, w.dataset, w.variant), conditions
    )


def influence_gallery_params(w):
    return mp.influence_gallery(config, w.dataset)


def table3_split_params(w):
    variant = config["ablation"]["table3"]
    return mp.table3_split(
        config, w.dataset, variant, test_set(config, w.dataset, variant)
    )


# ---- inputs (memgen/paths.py) ----
def member_outputs(w):
    return paths.member_outputs(config, w.dataset, w.arch, w.ens)


def fitcheck_members(w):
    return paths.fitcheck_members(config, w.dataset, w.arch, w.ens)


def ensemble_scores(w):
    return paths.ensemble_scores(config, w.dataset, w.arch)


def reference_correct(w):
    return paths.of_ensemble(w.dataset, w.arch, REFERENCE, "masks", "correct")


def reference_scores(w):
    return paths.of_ensemble(w.dataset, w.arch, REFERENCE, "scores", "thresholds")


def fdr_figure_inputs(w):
    return paths.fdr_figure_inputs(config, w.dataset, w.arch)


def duplicates_source(w):
    return paths.duplicates_source(config, w.dataset)


def loo_removed_inputs(w):
    return paths.loo_removed_inputs(config, w.dataset, w.arch, w.stratum)


def loo_inputs(w):
    plan = checkpoints.loo_plan.get(dataset=w.dataset, arch=w.arch).output[0]
    with open(plan) as f:
        return paths.loo_inputs(config, w.dataset, w.arch, plan, json.load(f)["run"])


def memorized_inputs(w):
    return paths.memorized_inputs(config, w.dataset, w.arch, ALL_FIXES)


def gallery_inputs(w):
    return paths.gallery_inputs(w.dataset, w.arch, ALL_FIXES)


def influence_inputs(w):
    return paths.influence_inputs(config, w.dataset, w.arch)


def influence_duplicates_inputs(w):
    return paths.influence_duplicates_inputs(config, w.dataset, w.arch)


def table3_split_inputs(w):
    dedup = test_set(config, w.dataset, config["ablation"]["table3"]) == "dedup"
    return paths.table3_split_inputs(w.dataset, w.arch, TABLE3, dedup)


def table3_runs(w):
    """Table 3's utility runs of the paper's two conditions (what the split compares): none when its
    memorized set is empty (decided after the removal checkpoint)."""
    removal = checkpoints.removal.get(
        dataset=w.dataset, arch=w.arch, removal=TABLE3
    ).output[0]
    with np.load(removal) as z:
        return (
            paths.utility_runs(config, w.dataset, w.arch, TABLE3, PAPER_CONDITIONS)
            if len(z["memorized"])
            else []
        )


def memorized_replicates_inputs(w):
    return paths.memorized_replicates_inputs(config, w.dataset, w.arch)


def removal_inputs(w):
    ens = parse_removal_id(w.removal)[0]
    return paths.of_ensemble(w.dataset, w.arch, ens, "scores", "thresholds")


def removed_inputs(w):
    return paths.removed_inputs(w.dataset, w.arch, TABLE3)


def table3_classes_inputs(w):
    return paths.table3_classes_inputs(
        w.dataset, w.arch, config["ablation"]["table3"], TABLE3
    )


def variant_inputs(w):
    dedup = test_set(config, w.dataset, w.variant) == "dedup"
    return paths.variant_inputs(w.dataset, w.arch, REMOVALS[w.variant], dedup)


def variant_runs(w):
    """Utility-run logits of a variant: none when its memorized set is empty (no pointless training),
    the class-matched control's only for Table 3's set (memgen.utility.variants.run_conditions).
    Decided after the removal checkpoint has run."""
    d, a, rid = w.dataset, w.arch, REMOVALS[w.variant]
    removal = checkpoints.removal.get(dataset=d, arch=a, removal=rid).output[0]
    with np.load(removal) as z:
        if not len(z["memorized"]):
            return []
    return paths.utility_runs(config, d, a, rid, run_conditions(config, rid))


def report_page():
    """The report opens on results/summary.rst once the study has written it, else on a static note.
    Absolute: Snakemake resolves the page against the Snakefile's folder, results/ lies in the working
    directory (they differ for `memgen audit`)."""
    page = Path(paths.SUMMARY)
    return str(page.resolve()) if page.exists() else "report/workflow.rst"
