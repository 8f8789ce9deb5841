"""Each rule's params: exactly the settings its outputs depend on (docs/rerun.md: which key reruns what).

Snakemake reruns a job when the repr of its params changes, so every function here is a pure function of
(config, wildcard values) whose value, key order included, changes only with the settings it names; run-only
settings (shard_size, checkpoint_every, loader_workers, ...) stay out: jobs read those from the config.
Torch-free: Snakemake imports it when it parses the workflow (rules/common.smk).
"""

import hashlib
import os
from pathlib import Path

import memgen.config as mc
from memgen.errors import fail
from memgen.kinds import CIFAR_FOLDERS, FOLDER_KINDS, IDX_KINDS, kind_of
from memgen.paths import STRATUM_SIZE, loo_groups, parse_removal_id


# ---- stage 1, data ----
def fingerprint(name: str, spec: dict, data_root: str = "data") -> str:
    """What on disk the dataset's index depends on, as a short digest ("" for generated/bundled data)."""
    kind = kind_of(name, spec)
    h = hashlib.sha256()
    if kind in FOLDER_KINDS:
        base = mc.folder_base(name, spec, Path(data_root))
        for split in ("train", "test"):
            top = base / split
            if not top.is_dir():
                continue
            for d in sorted(os.scandir(top), key=lambda e: e.name):
                if not d.is_dir():
                    continue
                for f in sorted(os.scandir(d.path), key=lambda e: e.name):
                    st = f.stat()
                    h.update(f"{split}/{d.name}/{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    elif kind in IDX_KINDS:
        # every place the loader may look (memgen.config.idx_folders): a copy put in an earlier one is read
        for folder in mc.idx_folders(spec, Path(data_root)):
            for f in (folder / f"{n}{gz}" for n in mc.IDX_FILES for gz in (".gz", "")):
                if f.is_file():
                    st = f.stat()
                    h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    elif kind in CIFAR_FOLDERS:
        folder = Path(spec.get("root", Path(data_root) / kind)) / CIFAR_FOLDERS[kind]
        for f in sorted(folder.glob("*")) if folder.is_dir() else []:
            st = f.stat()
            h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    else:
        return ""
    return h.hexdigest()[:16]


def index(config: dict, dataset: str) -> dict:
    """The loader's settings (not the new test set: the index holds the original test set) and the files."""
    spec = mc.loader_spec(config, dataset, new_test_set=False)
    folder = kind_of(dataset, config["datasets"][dataset]) in FOLDER_KINDS
    return {
        **spec,
        "files": fingerprint(dataset, spec, config["data_root"]),
        # the index checks every image's size against it
        **({"min_side": mc.min_side(config, dataset)} if folder else {}),
    }


def loader(config: dict, dataset: str) -> dict:
    """Rules that load pixels and test sets (utility runs, utility tables, Fig. 4)."""
    return mc.loader_spec(config, dataset)


def duplicates(config: dict, dataset: str) -> dict:
    """The detector reads the original test set and member features; a published list needs nothing."""
    if config["datasets"][dataset]["duplicates"] != "detect":
        return {}
    return {
        "loader": mc.loader_spec(config, dataset, new_test_set=False),
        "threshold": config["utility"]["duplicate_threshold"],
    }


def canaries(config: dict, dataset: str) -> dict:
    return {"fraction": config["canaries"]["fraction"], "seed": mc.stable_seed(config, dataset, "canaries")}


# ---- stage 2, score ensembles ----
def masks(config: dict, dataset: str, ens: str) -> dict:
    return {
        "rate": config["ensembles"][ens]["rate"],
        "block_size": config["masks"]["block_size"],
        "seed": mc.stable_seed(config, dataset, ens, "masks"),
    }


def member(config: dict, dataset: str, arch: str, ens: str) -> dict:
    """A member's identity: its recipe, the data it reads, the master seed its own seed derives from (with
    its index), and what it writes. No shard, slice or run-only setting: the job reads those from config.
    """
    return {
        "training": mc.member_recipe(config, dataset, arch, ens),
        "loader": mc.loader_spec(config, dataset, new_test_set=False),
        "masks": masks(config, dataset, ens),  # its rows of the mask (the job draws them itself)
        "seed": config["seed"],
        "full_logits": config["full_logits"],
    }


# ---- stage 3, scores ----
def fitcheck(config: dict, dataset: str, arch: str | None = None) -> dict:
    """The expected fit and the loader of the training images the checked members run on. The expectations
    are config fitcheck's, overridden by fitcheck.datasets.<dataset> and then its archs.<arch> (a recipe
    that cannot fit its training set, e.g. ImageNet's crops, expects less); `datasets` itself stays out."""
    spec = config["fitcheck"]
    own = spec.get("datasets", {}).get(
        mc.split_replicate(dataset)[0], {}
    )  # a replicate expects as its dataset
    by_arch = own.get("archs", {})
    if by_arch and arch is None:
        raise fail(
            f"config: fitcheck.datasets.{dataset}.archs is set, but the fitcheck rule is planned without the "
            "architecture",
            "pass it: mp.fitcheck(config, w.dataset, w.arch) in rules/common.smk (fitcheck_params)",
        )
    expect = {k: v for k, v in spec.items() if k != "datasets"}
    expect.update({k: v for k, v in own.items() if k != "archs"})
    expect.update(by_arch.get(arch, {}))
    return {"loader": mc.loader_spec(config, dataset, new_test_set=False), "expect": expect}


def thresholds(config: dict) -> dict:
    return {**config["threshold"], "min_out": config["scores"]["min_out"]}


def fdr(config: dict, dataset: str, arch: str, ens: str) -> dict:
    """fdr.csv of one ensemble: the test rule's level and effect size, min_out, and the fake masks' seed."""
    spec = config["threshold"]
    return {
        "q": spec.get("fdr_q", 0.05),
        "min_effect": spec.get("fdr_min_effect", 0.0),
        "min_out": config["scores"]["min_out"],
        "seed": mc.stable_seed(config, dataset, arch, ens, "fdr"),
    }


# ---- exact leave-one-out ----
def loo_plan(config: dict) -> dict:
    return {"max_train_points": config["loo"]["max_train_points"]}


def loo_model(config: dict, dataset: str, arch: str) -> dict:
    """What a leave-one-out model is: the reference ensemble's recipe (its overrides included), the data,
    and the M paired seeds (seed m trains full model m and leave-i-out model m of every point i). Not the
    reference's name: the job reads it from the config only to find the run-only keys.
    """
    return {
        "training": mc.member_recipe(config, dataset, arch, mc.reference(config)),
        "loader": mc.loader_spec(config, dataset, new_test_set=False),
        "seeds": [mc.stable_seed(config, dataset, arch, "loo", m) for m in range(config["loo"]["members"])],
    }


def loo_removed(config: dict, dataset: str, arch: str, stratum: str, group: int) -> dict:
    """A job's positions [first, last) in its stratum's ranking; the random stratum's permutation seed."""
    key = STRATUM_SIZE[stratum]  # top_b: as many points as top, ranked by the other half
    spans = loo_groups(config["loo"][key])
    if group >= len(spans):
        raise ValueError(f"loo.{key} = {config['loo'][key]} has no job {group}")
    first, last = spans[group]
    out = {**loo_model(config, dataset, arch), "stratum": stratum, "first": first, "last": last}
    if stratum == "random":
        out["random_seed"] = mc.stable_seed(config, dataset, arch, "loo", "random")
    return out


# ---- stage 4, analyses ----
def analysis(config: dict, dataset: str, arch: str) -> dict:
    """Rate and weight decay of every ensemble (tables, the regularization sweep), the reference, min_out."""
    ensembles = {
        e: {
            "rate": spec["rate"],
            "weight_decay": mc.weight_decay(config, dataset, arch, e),
            "plain": not spec.get("training"),
        }
        for e, spec in config["ensembles"].items()
    }
    return {"ensembles": ensembles, "reference": mc.reference(config), "min_out": config["scores"]["min_out"]}


def stability(config: dict, dataset: str, arch: str) -> dict:
    return {
        **analysis(config, dataset, arch),
        "stability_sizes": config["analysis"]["stability_sizes"],
        "seed": mc.stable_seed(config, dataset, arch, "stability"),
    }


def memorized(config: dict, removal: str) -> dict:
    """The memorized set of removal set `removal` (the "all fixes" variant's: high_rate ensemble,
    ablation.definition, null rule): which set, and min_out (memgen/analysis/memorized.py decides)."""
    ens, definition, rule = parse_removal_id(removal)
    return {"ensemble": ens, "definition": definition, "rule": rule, "min_out": config["scores"]["min_out"]}


def gallery(config: dict, dataset: str, removal: str) -> dict:
    """Which set (for the title) and the loader (pixels of datasets without files; an image folder's
    files are read from its root)."""
    return {
        "memorized": memorized(config, removal),
        "loader": mc.loader_spec(config, dataset, new_test_set=False),
    }


# ---- influence pairs ----
def influence(config: dict) -> dict:
    """Which ensemble's members (influence.ensemble, or the one influence.crossfit picks), whether they share
    none with the ensembles that choose memorized sets, and what is kept and called high-influence
    (memgen/influence/compute.py)."""
    spec = config.get("influence") or {}
    ens = mc.influence_ensemble(config)
    return {
        "ensemble": ens,
        "cross_fitted": ens not in mc.choosing_ensembles(config),
        "top": spec.get("top", 3),
        "threshold": spec.get("threshold", 0.15),
        "alpha": spec.get("alpha", 0.05),
    }


def influence_gallery(config: dict, dataset: str) -> dict:
    """The pairs gallery: how many pairs, the words of its title, and the loader (pixels of datasets
    without files)."""
    spec = influence(config)
    return {
        "ensemble": spec["ensemble"],
        "threshold": spec["threshold"],
        "alpha": spec["alpha"],
        "gallery": (config.get("influence") or {}).get("gallery", 12),
        "loader": mc.loader_spec(config, dataset, new_test_set=False),
    }


def table3_split(config: dict, dataset: str, variant: str, test_set: str) -> dict:
    """Table 3's variant, its test set (dedup adds the de-duplicated split) and its seeds."""
    return {"variant": variant, "test_set": test_set, "seeds": mc.utility_seeds(config, dataset)}


# ---- memorization proxies ----
def proxy_models(config: dict, dataset: str, arch: str) -> dict:
    """What the proxy models are: the reference ensemble's recipe, the data, their seeds and the curvature
    estimate's settings (all of proxies except nothing: every key changes the log)."""
    spec = config["proxies"]
    seeds = [mc.stable_seed(config, dataset, arch, "proxies", m) for m in range(spec["models"])]
    return {
        "training": mc.member_recipe(config, dataset, arch, mc.reference(config)),
        "loader": mc.loader_spec(config, dataset, new_test_set=False),
        "seeds": seeds,
        "curvature": {"samples": spec["curvature_samples"], "step": spec["curvature_step"]},
    }


def proxies_validation(config: dict, dataset: str, arch: str) -> dict:
    """The reference ensemble (its scores are the truth the proxies are held against), its cost in
    model-epochs, and min_out (points held out by fewer of its members have no score)."""
    ref = mc.reference(config)
    epochs = mc.training(config, dataset, arch, ref)["epochs"]
    members = config["ensembles"][ref]["members"]
    min_out = config["scores"]["min_out"]
    return {"reference": ref, "reference_model_epochs": members * epochs, "min_out": min_out}


def memorized_proxy(config: dict) -> dict:
    """The proxy audit's flag: which proxy, from how many models, at the threshold's alpha and tail."""
    spec, th = config["proxies"], config["threshold"]
    return {"proxy": spec["audit"], "models": spec["audit_models"], "alpha": th["alpha"], "tail": th["tail"]}


def proxy_gallery(config: dict, dataset: str) -> dict:
    return {"loader": loader(config, dataset), "flag": memorized_proxy(config)}


def proxy_summary(config: dict) -> dict:
    """What a proxy audit's summary says of its proxy (empty in other scopes: their summary skips it)."""
    return {"flag": memorized_proxy(config)} if config.get("scope") == "proxy" else {}


# ---- stage 5, utility ----
def removal(config: dict, dataset: str, arch: str, removal: str) -> dict:
    ens, definition, rule = parse_removal_id(removal)
    return {
        "ensemble": ens,
        "definition": definition,
        "rule": rule,
        "min_out": config["scores"]["min_out"],
        "seed": mc.stable_seed(config, dataset, arch, removal, "random"),
        "seeds": mc.utility_seeds(config, dataset),  # one random control per utility seed
    }


def utility_runs(config: dict, dataset: str, arch: str, shard: int) -> dict:
    """One shard of utility runs: seeds [shard * utility.shard_size, ...). Seed s is the same for
    "memorized removed" and "random removed": the pair shares init and data order."""
    size = config["utility"]["shard_size"]
    ids = list(range(shard * size, (shard + 1) * size))
    return {
        "training": mc.member_recipe(config, dataset, arch),
        "loader": mc.loader_spec(config, dataset),
        "seeds": [mc.stable_seed(config, dataset, arch, "utility", s) for s in ids],
        "seed_ids": ids,
        "full_logits": config["full_logits"],
    }


def variant(config: dict, dataset: str, test_set: str, conditions) -> dict:
    """A variant's evaluation: its test set (memgen.variants.test_set), the number of seeds, and the
    utility-run conditions its removal set trains (memgen.variants.run_conditions: the class-matched
    control only for Table 3's set, so ablation.table3 reruns these cheap tables, never a removal set)."""
    return {"test_set": test_set, "seeds": mc.utility_seeds(config, dataset), "conditions": list(conditions)}
