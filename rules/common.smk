# Helpers of the rules: wildcard constraints, named input functions and params.
# Logic lives in memgen/ (tested without Snakemake); these functions only look values up.
import functools
import sys
from pathlib import Path
from types import SimpleNamespace as Namespace

import memgen.config as mc
from memgen.data.duplicates import FALLBACK_MEMBERS
from memgen.data.index import fingerprint
from memgen.errors import MemgenError
from memgen.utility.variants import (
    VARIANTS,
    removal_ids,
    removal_id,
    parse_removal_id,
    test_set,
)

try:
    mc.validate(config)
except MemgenError as e:
    sys.exit(f"memgen: {e}")

DATASETS = list(config["datasets"])
ENSEMBLES = list(config["ensembles"])
BLOCK = config["masks"]["block_size"]
SHARD = config[
    "shard_size"
]  # divides BLOCK (checked): a member job trains one slice of one mask block
SLICES = list(range(0, BLOCK, SHARD))
# utility runs: the seeds of one condition are trained in shards of utility.shard_size; the rule's outputs
# are fixed when the Snakefile is parsed, so the shard size is the configured one (seeds fill whole shards)
USHARD = config["utility"]["shard_size"]
USLOTS = list(range(USHARD))
ARCHS = sorted({a for d in DATASETS for a in config["datasets"][d]["archs"]})


def _alt(names):
    return "|".join(
        sorted((n.replace(".", r"\.") for n in names), key=len, reverse=True)
    )


wildcard_constraints:
    dataset=_alt(DATASETS),
    arch=_alt(ARCHS),
    ens=_alt(ENSEMBLES),
    shard=r"\d+",
    block=r"\d+",
    slot=r"\d+",
    variant=_alt(VARIANTS),
    condition="memorized|random",


def pairs():
    """Every (dataset, arch) the config studies."""
    return [(d, a) for d in DATASETS for a in config["datasets"][d]["archs"]]


def member_files(first, name):
    """Output files of the member rule for slots [first, first + SHARD) of block {block}."""
    return [
        f"results/{{dataset}}/{{arch}}/{{ens}}/members/{{block}}/{s}/{name}"
        for s in range(first, first + SHARD)
    ]


def member_rule_resources():
    """The profile's `set-resources`/`set-threads` for `members` also hold for every slice rule members_<first>
    (a profile names rules, and the slice rules' names depend on shard_size). Snakemake has no public hook
    for this; its settings object is read here, and nothing happens when it is shaped otherwise.
    """
    rs = getattr(workflow, "resource_settings", None)
    for attr in ("_parsed_overwrite_resources", "_parsed_overwrite_threads"):
        table = getattr(rs, attr, None)
        if isinstance(table, dict) and "members" in table:
            for first in SLICES:
                table.setdefault(f"members_{first}", table["members"])


member_rule_resources()


# ---- params: exactly the settings each rule's outputs depend on (docs/rerun.md: which key reruns what) ----
@functools.cache
def _fingerprint(dataset):
    return fingerprint(
        dataset,
        mc.loader_spec(config, dataset, new_test_set=False),
        config["data_root"],
    )


def index_params(wildcards):
    """The loader's settings (not the new test set: the index holds the original test set) and the files."""
    d = wildcards.dataset
    folder = config["datasets"][d].get("kind", d) in mc.FOLDER_KINDS
    return {
        **mc.loader_spec(config, d, new_test_set=False),
        "files": _fingerprint(d),
        # the index checks every image's size against it
        **({"min_side": mc.min_side(config, d)} if folder else {}),
    }


def dataset_params(wildcards):
    """Rules that load pixels and test sets (utility runs, utility tables, Fig. 4)."""
    return mc.loader_spec(config, wildcards.dataset)


def duplicates_params(wildcards):
    """The detector reads the original test set and member features; a published list needs nothing."""
    if config["datasets"][wildcards.dataset]["duplicates"] != "detect":
        return {}
    return {
        "loader": mc.loader_spec(config, wildcards.dataset, new_test_set=False),
        "threshold": config["utility"]["duplicate_threshold"],
    }


def canary_params(wildcards):
    return {
        "fraction": config["canaries"]["fraction"],
        "seed": mc.stable_seed(config, wildcards.dataset, "canaries"),
    }


def mask_params(wildcards):
    return {
        "rate": config["ensembles"][wildcards.ens]["rate"],
        "block_size": config["masks"]["block_size"],
        "seed": mc.stable_seed(config, wildcards.dataset, wildcards.ens, "masks"),
    }


def member_params(wildcards):
    """A member's identity: its recipe, the data it reads, the master seed its own seed derives from (with
    its index), and what it writes. No shard, slice or run-only setting: the job reads those from config.
    """
    d, a, e = wildcards.dataset, wildcards.arch, wildcards.ens
    return {
        "training": mc.member_recipe(config, d, a, e),
        "loader": mc.loader_spec(config, d, new_test_set=False),
        "masks": mask_params(
            wildcards
        ),  # its rows of the mask (the job draws them itself)
        "seed": config["seed"],
        "full_logits": config["full_logits"],
    }


def threshold_params(wildcards):
    return {**config["threshold"], "min_out": config["scores"]["min_out"]}


def fitcheck_params(wildcards):
    """The expected fit (config fitcheck) and the loader of the training images the checked members run on."""
    return {
        "loader": mc.loader_spec(config, wildcards.dataset, new_test_set=False),
        "expect": config["fitcheck"],
    }


def utility_params(wildcards):
    first = int(wildcards.shard) * USHARD
    # seed s is the same for "memorized removed" and "random removed": the pair shares init and data order
    return {
        "training": mc.member_recipe(config, wildcards.dataset, wildcards.arch),
        "loader": mc.loader_spec(config, wildcards.dataset),
        "seeds": [
            mc.stable_seed(config, wildcards.dataset, wildcards.arch, "utility", s)
            for s in range(first, first + USHARD)
        ],
        "seed_ids": list(range(first, first + USHARD)),
        "full_logits": config["full_logits"],
    }


# ---- inputs ----------------------------------------------------------------------------------------
def _blocks(dataset, ens):
    return range(mc.members(config, dataset, ens) // BLOCK)


def ensemble_size(wildcards):
    return mc.members(config, wildcards.dataset, wildcards.ens)


def member_outputs(wildcards):
    """Every member's outputs, in mask row order (member k = block * BLOCK + slot)."""
    return [
        f"results/{wildcards.dataset}/{wildcards.arch}/{wildcards.ens}/members/{b}/{s}/outputs.npz"
        for b in _blocks(wildcards.dataset, wildcards.ens)
        for s in range(BLOCK)
    ]


def fitcheck_members(wildcards):
    """Members whose checkpoints the fit check runs: slots 0.. of block 0 (their outputs stand for the
    checkpoints written beside them just before, rules/ensemble.smk)."""
    n = min(config["fitcheck"]["members"], BLOCK)
    return [
        f"results/{wildcards.dataset}/{wildcards.arch}/{wildcards.ens}/members/0/{s}/outputs.npz"
        for s in range(n)
    ]


def ensemble_scores(wildcards):
    return {
        e: f"results/{wildcards.dataset}/{wildcards.arch}/{e}/scores.csv"
        for e in ENSEMBLES
    }


def reference_correct(wildcards):
    ref = mc.reference(config)
    return {
        "masks": f"results/{wildcards.dataset}/{wildcards.arch}/{ref}/masks.npz",
        "correct": f"results/{wildcards.dataset}/{wildcards.arch}/{ref}/correct.npz",
    }


def duplicates_source(wildcards):
    """The near-duplicate detector uses features of member 0 of the reference ensemble (first arch);
    a published list (ciFAIR) is copied as it is."""
    src = config["datasets"][wildcards.dataset]["duplicates"]
    if src != "detect":
        return {"csv": src}
    arch = next(iter(config["datasets"][wildcards.dataset]["archs"]))
    return {
        "canaries": f"results/{wildcards.dataset}/data/canaries.npz",
        # the member's outputs stand for its checkpoint, written beside them just before (rules/ensemble.smk)
        "member": f"results/{wildcards.dataset}/{arch}/{mc.reference(config)}/members/0/0/outputs.npz",
        # where member 0's features are degenerate for some points: its first members' features (memgen.data.duplicates)
        "members": [
            f"results/{wildcards.dataset}/{arch}/{mc.reference(config)}/members/0/{s}/outputs.npz"
            for s in range(min(FALLBACK_MEMBERS, BLOCK))
        ],
        "index": f"results/{wildcards.dataset}/data/index.npz",
    }


def removal_inputs(wildcards):
    ens, _, _ = parse_removal_id(wildcards.removal)
    return {
        "scores": f"results/{wildcards.dataset}/{wildcards.arch}/{ens}/scores.csv",
        "thresholds": f"results/{wildcards.dataset}/{wildcards.arch}/{ens}/thresholds.json",
    }


def removal_params(wildcards):
    ens, definition, rule = parse_removal_id(wildcards.removal)
    return {
        "ensemble": ens,
        "definition": definition,
        "rule": rule,
        "min_out": config["scores"]["min_out"],
        "seed": mc.stable_seed(
            config, wildcards.dataset, wildcards.arch, wildcards.removal, "random"
        ),
        "seeds": mc.utility_seeds(
            config, wildcards.dataset
        ),  # one random control per utility seed
    }


def variant_runs(wildcards):
    """Utility-run logits of a variant: none when its memorized set is empty (no pointless training).
    Decided after the removal checkpoint has run."""
    import numpy as np

    rid = removal_id(config, wildcards.variant)
    path = checkpoints.removal.get(
        dataset=wildcards.dataset, arch=wildcards.arch, removal=rid
    ).output[0]
    with np.load(path) as z:
        if len(z["memorized"]) == 0:
            return []
    return expand(
        "results/{dataset}/{arch}/utility/{removal}/{condition}/{shard}/{slot}/outputs.npz",
        dataset=wildcards.dataset,
        arch=wildcards.arch,
        removal=rid,
        condition=["memorized", "random"],
        shard=range(mc.utility_seeds(config, wildcards.dataset) // USHARD),
        slot=USLOTS,
    )


def variant_inputs(wildcards):
    rid = removal_id(config, wildcards.variant)
    inputs = {
        "removal": f"results/{wildcards.dataset}/{wildcards.arch}/removal/{rid}.npz"
    }
    if (
        test_set(config, wildcards.dataset, wildcards.variant) == "dedup"
    ):  # only they read the duplicate list
        inputs["duplicates"] = f"results/{wildcards.dataset}/data/duplicates.csv"
    return inputs


def variant_params(wildcards):
    return {
        "test_set": test_set(config, wildcards.dataset, wildcards.variant),
        "seeds": mc.utility_seeds(config, wildcards.dataset),
    }


def table1_inputs(wildcards):
    return [f"results/{d}/{a}/utility/{v}.csv" for d, a in pairs() for v in VARIANTS]


def table3_inputs(wildcards):
    return [
        f"results/{d}/{a}/utility/{config['ablation']['table3']}.csv"
        for d, a in pairs()
    ]


# ---- targets -----------------------------------------------------------------------------------------
def all_scores(wildcards):
    return [
        f"results/{d}/{a}/{e}/{f}"
        for d, a in pairs()
        for e in ENSEMBLES
        for f in ("scores.csv", "thresholds.json")
    ]


def all_removals(wildcards):
    """Every variant's removal set. A target of `all` on purpose: a utility table depends on its removal
    set through the removal checkpoint, and Snakemake does not rerun a finished job whose checkpoint input
    is missing (e.g. after ablation.baseline names another ensemble); asking for the set builds it, and
    the utility table is then re-evaluated with its new input."""
    return sorted(
        {
            f"results/{d}/{a}/removal/{removal_id(config, v)}.npz"
            for d, a in pairs()
            for v in VARIANTS
        }
    )


def all_analyses(wildcards):
    return [
        f"results/{d}/{a}/{f}"
        for d, a in pairs()
        for f in (
            "definitions.csv",
            "sampling_bias.csv",
            "stability.csv",
            "memorized.csv",
        )
    ]


def per_pair_figures():
    return [
        f"{n}_{d}_{a}"
        for d, a in pairs()
        for n in (
            "fig3_null",
            "fig4_leakage",
            "fig7_curves",
            "fig10_removed",
            "fig11_seeds",
            "fig12_intervals",
            "gallery",
        )
    ]


def all_figures(wildcards):
    names = [
        "fig1_sampling_bias",
        "fig2_fpr",
        "fig5_utility",
        "fig8_sweep",
        "fig9_stability",
    ] + per_pair_figures()
    return [f"results/figures/{n}.{ext}" for n in names for ext in ("png", "pdf")]


def all_definitions(wildcards):
    return [f"results/{d}/{a}/definitions.csv" for d, a in pairs()]


def all_sampling_bias(wildcards):
    return [f"results/{d}/{a}/sampling_bias.csv" for d, a in pairs()]


def all_stability(wildcards):
    return [f"results/{d}/{a}/stability.csv" for d, a in pairs()]


def ensemble_meta(wildcards):
    """rate and weight decay of every ensemble, for tables and the regularization sweep."""
    return {
        e: {
            "rate": config["ensembles"][e]["rate"],
            "weight_decay": mc.weight_decay(
                config, wildcards.dataset, wildcards.arch, e
            ),
            "plain": not config["ensembles"][e].get("training"),
        }
        for e in ENSEMBLES
    }


def analysis_params(wildcards):
    return {
        "ensembles": ensemble_meta(wildcards),
        "reference": mc.reference(config),
        "min_out": config["scores"]["min_out"],
    }


def stability_params(wildcards):
    return {
        **analysis_params(wildcards),
        "stability_sizes": config["analysis"]["stability_sizes"],
        "seed": mc.stable_seed(config, wildcards.dataset, wildcards.arch, "stability"),
    }


def removed_inputs(wildcards):
    """Fig. 10: the table3 variant's removal set and the scores it was drawn from."""
    rid = removal_id(config, config["ablation"]["table3"])
    ens, _, _ = parse_removal_id(rid)
    return {
        "scores": f"results/{wildcards.dataset}/{wildcards.arch}/{ens}/scores.csv",
        "removal": f"results/{wildcards.dataset}/{wildcards.arch}/removal/{rid}.npz",
    }


def reference_scores(wildcards):
    """Fig. 12: the reference ensemble's scores (with their intervals) and its τ."""
    where = f"results/{wildcards.dataset}/{wildcards.arch}/{mc.reference(config)}"
    return {
        "scores": f"{where}/scores.csv",
        "thresholds": f"{where}/thresholds.json",
    }


def table3_definition(wildcards):
    return parse_removal_id(removal_id(config, config["ablation"]["table3"]))[1]


# ---- auditing one's own images: memorized.csv and the gallery (memgen.analysis.memorized_jobs) ----------------
def memorized_params(wildcards):
    """The memorized set of the "all fixes" variant (high_rate ensemble, ablation.definition, null
    rule): which set, and min_out. Decision in memgen/stages/memorized.py."""
    ens, definition, rule = parse_removal_id(removal_id(config, "all"))
    return {
        "ensemble": ens,
        "definition": definition,
        "rule": rule,
        "min_out": config["scores"]["min_out"],
    }


def memorized_inputs(wildcards):
    """Scores, τ, mask and member outputs (held-out predictions) of that ensemble, and the index (files,
    class names)."""
    ens = memorized_params(wildcards)["ensemble"]
    where = f"results/{wildcards.dataset}/{wildcards.arch}/{ens}"
    return {
        "scores": f"{where}/scores.csv",
        "thresholds": f"{where}/thresholds.json",
        "masks": f"{where}/masks.npz",
        "outputs": member_outputs(
            Namespace(dataset=wildcards.dataset, arch=wildcards.arch, ens=ens)
        ),
        "index": f"results/{wildcards.dataset}/data/index.npz",
    }


def gallery_inputs(wildcards):
    ens = memorized_params(wildcards)["ensemble"]
    return {
        "memorized": f"results/{wildcards.dataset}/{wildcards.arch}/memorized.csv",
        "thresholds": f"results/{wildcards.dataset}/{wildcards.arch}/{ens}/thresholds.json",
        "index": f"results/{wildcards.dataset}/data/index.npz",
    }


def gallery_params(wildcards):
    """Which set (for the title) and the loader (pixels of datasets without files; an image folder's
    files are read from its root)."""
    return {
        "memorized": memorized_params(wildcards),
        "loader": mc.loader_spec(config, wildcards.dataset, new_test_set=False),
    }


# ---- the report's first page (memgen.report) ---------------------------------------------------------
def summary_pairs(wildcards):
    return [[d, a] for d, a in pairs()]


def summary_inputs(wildcards):
    """The tables, and per dataset x arch the thresholds of the ensemble the answer (Table 3's variant)
    rests on and the audit gallery."""
    ens = parse_removal_id(removal_id(config, config["ablation"]["table3"]))[0]
    out = {"table1": "results/table1.csv", "table3": "results/table3.csv"}
    for i, (d, a) in enumerate(pairs()):
        out[f"thresholds_{i}"] = f"results/{d}/{a}/{ens}/thresholds.json"
        out[f"gallery_{i}"] = f"results/figures/gallery_{d}_{a}.png"
    return out


def report_page():
    """The report opens on results/summary.rst once the study has written it, else on a static note.
    Absolute: Snakemake resolves the page against the Snakefile's folder, results/ lies in the working
    directory (they differ for `memgen audit`)."""
    page = Path("results/summary.rst")
    return str(page.resolve()) if page.exists() else "report/workflow.rst"


# ---- exact leave-one-out on small datasets (memgen.loo.truth, rules/loo.smk) ----------------------------------
from memgen.loo.truth import STRATA, groups as loo_groups


wildcard_constraints:
    stratum=_alt(STRATA),
    group=r"\d+",


def loo_plan_params(wildcards):
    return {"max_train_points": config["loo"]["max_train_points"]}


def loo_model_params(wildcards):
    """What a leave-one-out model is: the reference ensemble's recipe (its overrides included), the data,
    and the M paired seeds (seed m trains full model m and leave-i-out model m of every point i). Not the
    reference's name: the job reads it from the config only to find the run-only keys.
    """
    d, a = wildcards.dataset, wildcards.arch
    return {
        "training": mc.member_recipe(config, d, a, mc.reference(config)),
        "loader": mc.loader_spec(config, d, new_test_set=False),
        "seeds": [
            mc.stable_seed(config, d, a, "loo", m)
            for m in range(config["loo"]["members"])
        ],
    }


def _loo_group(wildcards):
    spans = loo_groups(config["loo"][wildcards.stratum])
    g = int(wildcards.group)
    if g >= len(spans):
        raise ValueError(
            f"loo.{wildcards.stratum} = {config['loo'][wildcards.stratum]} has no job {g}"
        )
    return spans[g]


def loo_removed_params(wildcards):
    """A job's positions [first, last) in its stratum's ranking; the random stratum's permutation seed."""
    first, last = _loo_group(wildcards)
    out = {
        **loo_model_params(wildcards),
        "stratum": wildcards.stratum,
        "first": first,
        "last": last,
    }
    if wildcards.stratum == "random":
        out["random_seed"] = mc.stable_seed(
            config, wildcards.dataset, wildcards.arch, "loo", "random"
        )
    return out


def loo_removed_inputs(wildcards):
    """The top stratum ranks the reference ensemble's scores; the random one needs the canary flags."""
    d, a = wildcards.dataset, wildcards.arch
    out = {
        "index": f"results/{d}/data/index.npz",
        "canaries": f"results/{d}/data/canaries.npz",
    }
    if wildcards.stratum == "top":
        out["reference"] = f"results/{d}/{a}/{mc.reference(config)}/scores.csv"
    return out


def loo_inputs(wildcards):
    """The plan, and where it says so the full models and every job of each non-empty stratum."""
    import json

    d, a = wildcards.dataset, wildcards.arch
    plan = checkpoints.loo_plan.get(dataset=d, arch=a).output[0]
    out = {
        "plan": plan,
        "index": f"results/{d}/data/index.npz",
        "canaries": f"results/{d}/data/canaries.npz",
    }
    with open(plan) as f:
        if not json.load(f)["run"]:
            return out
    out["full"] = f"results/{d}/{a}/loo/full.npz"
    for s in STRATA:
        n_jobs = len(loo_groups(config["loo"][s]))
        if n_jobs:
            out[s] = [f"results/{d}/{a}/loo/{s}/{g}.npz" for g in range(n_jobs)]
    return out


def loo_seed(wildcards):
    """Seed of the bootstrap over seed pairs (each LOO score's standard error)."""
    return mc.stable_seed(config, wildcards.dataset, wildcards.arch, "loo", "bootstrap")
