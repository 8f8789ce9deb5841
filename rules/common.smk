# Helpers of the rules: the config's validation, the wildcard constraints, and named input and params
# functions that only look values up: where files live in memgen/paths.py, what each rule's outputs depend
# on in memgen/params.py (both tested without Snakemake, tests/test_params.py), most of them the planning
# function with the job's wildcards as its arguments (memgen.workflow.wildcards_to).
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
from memgen.variants import CONDITIONS as PAPER_CONDITIONS
from memgen.variants import VARIANTS, removal_id, run_conditions, test_set
from memgen.workflow import share_profile_resources, wildcards_to

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
    share_profile_resources(workflow, "members", [f"members_{f}" for f in SLICES])
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


dataset_params = wildcards_to(mp.loader, "dataset", config=config)
duplicates_params = wildcards_to(mp.duplicates, "dataset", config=config)
canary_params = wildcards_to(mp.canaries, "dataset", config=config)
mask_params = wildcards_to(mp.masks, "dataset", "ens", config=config)
ensemble_size = wildcards_to(mc.members, "dataset", "ens", config=config)
member_params = wildcards_to(mp.member, "dataset", "arch", "ens", config=config)
proxy_model_params = wildcards_to(mp.proxy_models, "dataset", "arch", config=config)
memorized_proxy_params = mp.memorized_proxy(config)
proxy_gallery_params = wildcards_to(mp.proxy_gallery, "dataset", config=config)
proxies_validation_params = wildcards_to(
    mp.proxies_validation, "dataset", "arch", config=config
)
fitcheck_params = wildcards_to(mp.fitcheck, "dataset", "arch", config=config)
fdr_params = wildcards_to(mp.fdr, "dataset", "arch", "ens", config=config)
loo_model_params = wildcards_to(mp.loo_model, "dataset", "arch", config=config)
loo_removed_params = wildcards_to(
    mp.loo_removed, "dataset", "arch", "stratum", ("group", int), config=config
)
analysis_params = wildcards_to(mp.analysis, "dataset", "arch", config=config)
stability_params = wildcards_to(mp.stability, "dataset", "arch", config=config)
gallery_params = wildcards_to(mp.gallery, "dataset", config=config, removal=ALL_FIXES)
removal_params = wildcards_to(mp.removal, "dataset", "arch", "removal", config=config)
utility_params = wildcards_to(
    mp.utility_runs, "dataset", "arch", ("shard", int), config=config
)


def variant_params(w):
    conditions = run_conditions(config, REMOVALS[w.variant])
    return mp.variant(
        config, w.dataset, test_set(config, w.dataset, w.variant), conditions
    )


influence_gallery_params = wildcards_to(mp.influence_gallery, "dataset", config=config)


def table3_split_params(w):
    variant = config["ablation"]["table3"]
    return mp.table3_split(
        config, w.dataset, variant, test_set(config, w.dataset, variant)
    )


# ---- inputs (memgen/paths.py) ----
member_outputs = wildcards_to(
    paths.member_outputs, "dataset", "arch", "ens", config=config
)
fitcheck_members = wildcards_to(
    paths.fitcheck_members, "dataset", "arch", "ens", config=config
)
ensemble_scores = wildcards_to(paths.ensemble_scores, "dataset", "arch", config=config)


def reference_correct(w):
    return paths.of_ensemble(w.dataset, w.arch, REFERENCE, "masks", "correct")


def reference_scores(w):
    return paths.of_ensemble(w.dataset, w.arch, REFERENCE, "scores", "thresholds")


fdr_figure_inputs = wildcards_to(
    paths.fdr_figure_inputs, "dataset", "arch", config=config
)
duplicates_source = wildcards_to(paths.duplicates_source, "dataset", config=config)
loo_removed_inputs = wildcards_to(
    paths.loo_removed_inputs, "dataset", "arch", "stratum", config=config
)


def loo_inputs(w):
    plan = checkpoints.loo_plan.get(dataset=w.dataset, arch=w.arch).output[0]
    with open(plan) as f:
        return paths.loo_inputs(config, w.dataset, w.arch, plan, json.load(f)["run"])


memorized_inputs = wildcards_to(
    paths.memorized_inputs, "dataset", "arch", config=config, removal=ALL_FIXES
)
gallery_inputs = wildcards_to(
    paths.gallery_inputs, "dataset", "arch", removal=ALL_FIXES
)
influence_inputs = wildcards_to(
    paths.influence_inputs, "dataset", "arch", config=config
)
influence_duplicates_inputs = wildcards_to(
    paths.influence_duplicates_inputs, "dataset", "arch", config=config
)


def shipped_validation():
    """The shipped proxies' validation tables a proxy audit's summary quotes (none in other scopes)."""
    if config.get("scope") != "proxy":
        return {}
    base = Path(workflow.basedir)
    files = paths.SHIPPED_VALIDATION.items()
    return {what: str(base / f) for f, what in files if (base / f).exists()}


def proxies_validation_inputs(w):
    return paths.proxies_validation_inputs(w.dataset, w.arch, REFERENCE)


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


memorized_replicates_inputs = wildcards_to(
    paths.memorized_replicates_inputs, "dataset", "arch", config=config
)


def removal_inputs(w):
    ens = parse_removal_id(w.removal)[0]
    return paths.of_ensemble(w.dataset, w.arch, ens, "scores", "thresholds")


removed_inputs = wildcards_to(paths.removed_inputs, "dataset", "arch", removal=TABLE3)
table3_classes_inputs = wildcards_to(
    paths.table3_classes_inputs,
    "dataset",
    "arch",
    variant=config["ablation"]["table3"],
    removal=TABLE3,
)


def variant_inputs(w):
    dedup = test_set(config, w.dataset, w.variant) == "dedup"
    return paths.variant_inputs(w.dataset, w.arch, REMOVALS[w.variant], dedup)


def variant_runs(w):
    """Utility-run logits of a variant: none when its memorized set is empty (no pointless training),
    the class-matched control's only for Table 3's set (memgen.variants.run_conditions).
    Decided after the removal checkpoint has run."""
    d, a, rid = w.dataset, w.arch, REMOVALS[w.variant]
    removal = checkpoints.removal.get(dataset=d, arch=a, removal=rid).output[0]
    with np.load(removal) as z:
        if not len(z["memorized"]):
            return []
    return paths.utility_runs(config, d, a, rid, run_conditions(config, rid))


def figure_rule(stem, caption, *inputs, params=None, **named):
    """A row of FIGURES (rules/figures.smk): the figure's file stem (results/figures/
    <stem>.png and .pdf; memgen.paths STUDY_FIGURES and PAIR_FIGURES), its caption
    report/<caption>.rst, the rule's inputs as the rule takes them (files, or
    unpack(<input function>): named files), its named inputs, and its params."""
    return {
        "stem": stem,
        "caption": f"../report/{caption}.rst",
        "inputs": inputs,
        "named": named,
        "params": params or {},
    }


def report_page():
    """The report opens on results/summary.rst once the study has written it, else on a static note.
    Absolute: Snakemake resolves the page against the Snakefile's folder, results/ lies in the working
    directory (they differ for `memgen audit`)."""
    page = Path(paths.SUMMARY)
    return str(page.resolve()) if page.exists() else "report/workflow.rst"
