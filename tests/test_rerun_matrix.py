"""The rerun matrix: on a finished tiny study, change one config key at a time and check, with a dry run,
exactly which rules Snakemake schedules again. docs/rerun.md holds the same table for users; print it with
`python tests/test_rerun_matrix.py <finished study folder>`.

A member is GPU-hours at paper scale, so the rows that must schedule no `members` job matter most:
run-only settings (checkpoint interval, batching, CUDA-only flags, shard size) and settings read only
downstream (duplicates source, thresholds, analysis, utility, ablation).
"""

import copy
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from workflow_helpers import planned_jobs, tiny_config

pytestmark = pytest.mark.workflow


def _put(*path_and_value):
    *path, value = path_and_value

    def edit(cfg):
        node = cfg
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = value

    return edit


def _block_32(cfg):  # K must stay a multiple of the block size
    cfg["masks"]["block_size"] = 32
    for ens in cfg["ensembles"].values():
        ens["members"] = 32


EDITS = {
    "training.epochs": _put("training", "epochs", 5),
    "training.batch_size": _put("training", "batch_size", 64),
    "training.lr_peak": _put("training", "lr_peak", 0.1),
    "training.lr_warmup": _put("training", "lr_warmup", 0.5),
    "training.momentum": _put("training", "momentum", 0.8),
    "training.nesterov": _put("training", "nesterov", False),
    "training.weight_decay": _put("training", "weight_decay", 0.003),
    "training.crop_padding": _put("training", "crop_padding", 1),
    "training.flip": _put("training", "flip", True),
    "training.model": _put("training", "model", {"hidden": 16}),
    "training.checkpoint_every": _put("training", "checkpoint_every", 1),
    "training.batched": _put("training", "batched", False),
    "training.bf16": _put("training", "bf16", False),
    "training.channels_last": _put("training", "channels_last", False),
    "training.compile": _put("training", "compile", True),
    "training.concurrent_members": _put("training", "concurrent_members", 2),
    "full_logits": _put("full_logits", True),
    "canaries.fraction": _put("canaries", "fraction", 0.1),
    "masks.block_size (16 -> 32, every K 32)": _block_32,
    "shard_size": _put("shard_size", 4),
    "ensembles.rate0.5.rate": _put("ensembles", "rate0.5", "rate", 0.4),
    "ensembles.rate0.5.members (16 -> 32)": _put("ensembles", "rate0.5", "members", 32),
    "ensembles.rate0.5.training": _put("ensembles", "rate0.5", "training", {"epochs": 5}),
    "datasets.digits.duplicates": _put("datasets", "digits", "duplicates", "dups.csv"),
    "datasets.digits.test_fraction": _put("datasets", "digits", "test_fraction", 0.25),
    "datasets.digits.new_test_set": _put("datasets", "digits", "new_test_set", {"name": "v2", "dir": "v2"}),
    "datasets.digits.archs (mlp option)": _put(
        "datasets", "digits", "archs", "mlp", {"model": {"hidden": 24}}
    ),
    "datasets.digits.archs (+ cnn)": _put("datasets", "digits", "archs", "cnn", {}),
    "scores.min_out": _put("scores", "min_out", 3),
    "fitcheck.min_train_acc": _put("fitcheck", "min_train_acc", 0.8),
    "threshold.alpha": _put("threshold", "alpha", 0.1),
    "threshold.tail": _put("threshold", "tail", "lower"),
    "threshold.fixed_tau": _put("threshold", "fixed_tau", 0.3),
    "threshold.require_interval": _put("threshold", "require_interval", True),
    "threshold.fdr_q": _put("threshold", "fdr_q", 0.1),
    "threshold.fdr_min_effect": _put("threshold", "fdr_min_effect", 0.2),
    "analysis.reference": _put("analysis", "reference", "rate0.7"),
    "analysis.stability_sizes": _put("analysis", "stability_sizes", [2, 4]),
    "utility.seeds": _put("utility", "seeds", 8),
    "utility.shard_size": _put("utility", "shard_size", 2),
    "utility.duplicate_threshold": _put("utility", "duplicate_threshold", 0.98),
    "ablation.baseline": _put("ablation", "baseline", "rate0.5"),
    "ablation.high_rate": _put("ablation", "high_rate", "rate0.7"),
    "ablation.table3": _put("ablation", "table3", "principled"),
    "ablation.definition": _put("ablation", "definition", "lira"),
    "seed": _put("seed", 1),
    "loo.members": _put("loo", "members", 5),
    "loo.top": _put("loo", "top", 8),
    "loo.random (8 -> 16: one more job)": _put("loo", "random", 16),
    "loo.max_train_points": _put("loo", "max_train_points", 100),
    "influence.ensemble": _put("influence", "ensemble", "rate0.5-wd0.008"),
    "influence.crossfit": _put("influence", "crossfit", False),
    "influence.top": _put("influence", "top", 5),
    "influence.threshold": _put("influence", "threshold", 0.3),
    "influence.alpha": _put("influence", "alpha", 0.01),
    "influence.gallery": _put("influence", "gallery", 6),
    "replicates (1 -> 2)": _put("replicates", 2),
    "proxies.models": _put("proxies", "models", 2),
    "proxies.curvature_samples": _put("proxies", "curvature_samples", 3),
    "proxies.curvature_step": _put("proxies", "curvature_step", 0.01),
    "proxies.audit": _put("proxies", "audit", "margin"),
}

# every member retrains, and everything downstream of members (utility runs behind the removal checkpoint)
RETRAIN = [
    "definitions",
    "duplicates",
    "fig_curves",
    "fig_fpr",
    "fig_gallery",
    "fig_leakage",
    "fig_null",
    "fig_removed",
    "fig_sampling_bias",
    "fig_seeds",
    "fig_stability",
    "fig_sweep",
    "fig_utility",
    "fitcheck",
    "members",
    "memorized",
    "removal",
    "sampling_bias",
    "scores",
    "stability",
    "table1",
    "table3",
    "thresholds",
    "utility",
]

EXPECTED = {
    "training.epochs": RETRAIN,
    "training.batch_size": RETRAIN,
    "training.lr_peak": RETRAIN,
    "training.lr_warmup": RETRAIN,
    "training.momentum": RETRAIN,
    "training.nesterov": RETRAIN,
    "training.weight_decay": RETRAIN,
    "training.crop_padding": RETRAIN,
    "training.flip": RETRAIN,
    "training.model": RETRAIN,
    "training.checkpoint_every": [],
    "training.batched": [],
    "training.bf16": [],
    "training.channels_last": [],
    "training.compile": [],
    "training.concurrent_members": [],
    "full_logits": RETRAIN,
    "canaries.fraction": [*RETRAIN, "canaries"],
    "masks.block_size (16 -> 32, every K 32)": [*RETRAIN, "masks"],
    "shard_size": [],
    "ensembles.rate0.5.rate": [
        "definitions",
        "fig_curves",
        "fig_fpr",
        "fig_sampling_bias",
        "fig_stability",
        "fig_sweep",
        "fitcheck",
        "masks",
        "members",
        "sampling_bias",
        "scores",
        "stability",
        "thresholds",
    ],
    "ensembles.rate0.5.members (16 -> 32)": [
        "definitions",
        "fig_curves",
        "fig_fpr",
        "fig_sampling_bias",
        "fig_sweep",
        "fitcheck",
        "masks",
        "members",
        "sampling_bias",
        "scores",
        "thresholds",
    ],
    "ensembles.rate0.5.training": [
        "definitions",
        "fig_curves",
        "fig_fpr",
        "fig_sampling_bias",
        "fig_stability",
        "fig_sweep",
        "fitcheck",
        "members",
        "sampling_bias",
        "scores",
        "stability",
        "thresholds",
    ],
    "datasets.digits.duplicates": [
        "duplicates",
        "fig_leakage",
        "fig_seeds",
        "fig_utility",
        "table1",
        "table3",
        "utility",
    ],
    "datasets.digits.test_fraction": [*RETRAIN, "canaries", "dataset_index", "masks"],
    "datasets.digits.new_test_set": [
        "fig_leakage",
        "fig_seeds",
        "fig_utility",
        "table1",
        "table3",
        "utility",
        "utility_runs",
    ],
    "datasets.digits.archs (mlp option)": RETRAIN,
    "datasets.digits.archs (+ cnn)": [
        "definitions",
        "fig_curves",
        "fig_fpr",
        "fig_gallery",
        "fig_leakage",
        "fig_null",
        "fig_removed",
        "fig_sampling_bias",
        "fig_seeds",
        "fig_stability",
        "fig_sweep",
        "fig_utility",
        "fitcheck",
        "masks",
        "members",
        "memorized",
        "removal",
        "sampling_bias",
        "scores",
        "stability",
        "table1",
        "table3",
        "thresholds",
        "utility",
    ],
    "scores.min_out": [
        "definitions",
        "fig_curves",
        "fig_fpr",
        "fig_gallery",
        "fig_null",
        "fig_removed",
        "fig_sampling_bias",
        "fig_seeds",
        "fig_stability",
        "fig_sweep",
        "fig_utility",
        "memorized",
        "removal",
        "sampling_bias",
        "stability",
        "table1",
        "table3",
        "thresholds",
        "utility",
    ],
    # the check's verdict feeds thresholds.json: everything downstream of it, no member
    "fitcheck.min_train_acc": [
        "fig_gallery",
        "fig_null",
        "fig_removed",
        "fig_seeds",
        "fig_utility",
        "fitcheck",
        "memorized",
        "removal",
        "table1",
        "table3",
        "thresholds",
        "utility",
    ],
    "threshold.alpha": [
        "fig_gallery",
        "fig_null",
        "fig_removed",
        "fig_seeds",
        "fig_utility",
        "memorized",
        "removal",
        "table1",
        "table3",
        "thresholds",
        "utility",
    ],
    "threshold.tail": [
        "fig_gallery",
        "fig_null",
        "fig_removed",
        "fig_seeds",
        "fig_utility",
        "memorized",
        "removal",
        "table1",
        "table3",
        "thresholds",
        "utility",
    ],
    "threshold.fixed_tau": [
        "fig_gallery",
        "fig_null",
        "fig_removed",
        "fig_seeds",
        "fig_utility",
        "memorized",
        "removal",
        "table1",
        "table3",
        "thresholds",
        "utility",
    ],
    "analysis.reference": [
        "definitions",
        "duplicates",
        "fig_curves",
        "fig_fpr",
        "fig_leakage",
        "fig_null",
        "fig_sampling_bias",
        "fig_seeds",
        "fig_stability",
        "fig_sweep",
        "fig_utility",
        "sampling_bias",
        "stability",
        "table1",
        "table3",
        "utility",
    ],
    "analysis.stability_sizes": ["fig_stability", "stability"],
    "utility.seeds": ["fig_removed", "fig_seeds", "fig_utility", "removal", "table1", "table3", "utility"],
    "utility.shard_size": ["fig_seeds", "fig_utility", "table1", "table3", "utility", "utility_runs"],
    "utility.duplicate_threshold": [
        "duplicates",
        "fig_leakage",
        "fig_seeds",
        "fig_utility",
        "table1",
        "table3",
        "utility",
    ],
    "ablation.baseline": ["removal", "table1", "utility"],
    "ablation.high_rate": [
        "fig_gallery",
        "fig_removed",
        "fig_seeds",
        "fig_utility",
        "memorized",
        "removal",
        "table1",
        "table3",
        "utility",
    ],
    # the class-matched control moves to the new Table 3 set: its runs (one job) are trained, and the two
    # sets' utility tables (and Table 1, which reads them) are re-evaluated; no removal set, no other run
    "ablation.table3": [
        "fig_removed",
        "fig_seeds",
        "fig_utility",
        "table1",
        "table3",
        "utility",
        "utility_runs",
    ],
    # only the "all" variant's removal set (its id names the definition), its runs and what reads them
    "ablation.definition": [
        "fig_gallery",
        "fig_removed",
        "fig_seeds",
        "fig_utility",
        "memorized",
        "removal",
        "table1",
        "table3",
        "utility",
    ],
    "seed": [*RETRAIN, "canaries", "masks"],
    # thresholds.json carries the option to the removal sets and memorized.csv
    "threshold.require_interval": [
        "fig_gallery",
        "fig_null",
        "fig_removed",
        "fig_seeds",
        "fig_utility",
        "memorized",
        "removal",
        "table1",
        "table3",
        "thresholds",
        "utility",
    ],
}
# the test rule's settings: thresholds.json (every ensemble's) and what reads it, as threshold.alpha; fdr.csv
EXPECTED["threshold.fdr_q"] = EXPECTED["threshold.fdr_min_effect"] = EXPECTED["threshold.alpha"]
# fdr.csv reads the high-rate ensemble's scores, masks and correctness, and its params (threshold.fdr_q,
# fdr_min_effect, scores.min_out, seed); Fig. 13 reads it and that ensemble's thresholds. In the tiny study
# the high-rate ensemble is the reference, so Fig. 13 reruns where Fig. 3 does, the reference's change aside
FDR_KEYS = ("threshold.fdr_q", "threshold.fdr_min_effect", "scores.min_out", "ablation.high_rate")


def fdr_reruns(key: str, rules: list[str]) -> list[str]:
    own = "fig_null" in rules and key != "analysis.reference"
    fdr = key in FDR_KEYS or (own and "scores" in rules)
    return (["fdr"] if fdr else []) + (["fig_fdr"] if fdr or own else [])


EXPECTED = {key: [*rules, *fdr_reruns(key, rules)] for key, rules in EXPECTED.items()}
# Fig. 12 reads what Fig. 3 reads (the reference ensemble's scores and thresholds), and its title the level
EXPECTED = {
    key: [*rules, "fig_intervals"] if "fig_null" in rules else rules for key, rules in EXPECTED.items()
}
# Exact leave-one-out (rules/loo.smk). loo_full: the reference's recipe, the canaries, the seeds;
# loo_removed too, and its top jobs rank the reference's scores.csv, so they rerun whenever it is
# rewritten. loo_plan reads the index. A new pair's jobs past its plan (a checkpoint) show once it has run.
LOO = ["fig_sampling_bias", "loo", "loo_removed", "sampling_bias"]
LOO_RERUNS = {
    **{k: [*LOO, "loo_full"] for k in EXPECTED if k.startswith("training.")},
    "datasets.digits.archs (mlp option)": [*LOO, "loo_full"],
    "full_logits": LOO,
    "masks.block_size (16 -> 32, every K 32)": LOO,
    "canaries.fraction": [*LOO, "loo_full"],
    # the index changes, so the loo_plan checkpoint reruns; its training jobs show once it has run
    "datasets.digits.test_fraction": ["fig_sampling_bias", "loo", "loo_plan", "sampling_bias"],
    "datasets.digits.archs (+ cnn)": ["fig_sampling_bias", "loo", "loo_plan", "sampling_bias"],
    "analysis.reference": LOO,
    "seed": [*LOO, "loo_full"],
}
LOO_RERUNS = {k: v for k, v in LOO_RERUNS.items() if k in EXPECTED and EXPECTED[k]}  # run-only keys: none
EXPECTED = {k: sorted({*v, *LOO_RERUNS.get(k, [])}) for k, v in EXPECTED.items()}
EXPECTED["loo.members"] = [*LOO, "loo_full"]
EXPECTED["loo.top"] = LOO
EXPECTED["loo.random (8 -> 16: one more job)"] = LOO
EXPECTED["loo.max_train_points"] = ["fig_sampling_bias", "loo", "loo_plan", "sampling_bias"]

# Influence pairs (rules/influence.smk) read the members of the ensemble influence.crossfit picks, rate0.5 in
# the tiny study (the recipe's own ensemble that chooses no memorized set: memgen.config.influence_ensemble),
# and memorized.csv: they rerun with memorized.csv, with rate0.5's members, and when ablation.baseline names
# rate0.5 (influence moves to rate0.7); no longer with analysis.reference. Table 3's split reads Table 3's
# removal set and runs and the duplicate list: it reruns with Table 3; the comparison with the detector, with
# the duplicate list. Their own settings rerun them alone.
INFLUENCE = ["fig_influence", "influence", "influence_duplicates", "table3_split"]


def influence_reruns(key: str, rules: list[str]) -> list[str]:
    if "memorized" in rules or key.startswith("ensembles.rate0.5.") or key == "ablation.baseline":
        return INFLUENCE
    return (["influence_duplicates"] if "duplicates" in rules else []) + (
        ["table3_split"] if "table3" in rules else []
    )


EXPECTED = {k: sorted({*v, *influence_reruns(k, v)}) for k, v in EXPECTED.items()}
EXPECTED |= {f"influence.{k}": INFLUENCE for k in ("ensemble", "crossfit", "top", "threshold", "alpha")}
EXPECTED["influence.gallery"] = ["fig_influence"]
# a second replicate: its own dataset's jobs up to its memorized set and utility tables (the runs sit behind
# the removal checkpoint), and what reads every replicate; nothing of replicate 1 retrains; no duplicate list
# (every replicate drops replicate 1's duplicates)
EXPECTED["replicates (1 -> 2)"] = [
    "canaries",
    "dataset_index",
    "fig_utility",
    "fitcheck",
    "masks",
    "members",
    "memorized",
    "memorized_replicates",
    "removal",
    "replicate_overlap",
    "scores",
    "table1",
    "table3",
    "thresholds",
    "utility",
]

# Table 3 per class (rules/utility.smk) reads replicate 1's Table 3 utility table, its removal set, the scores
# it was drawn from and the index: it reruns with Table 3, except where only further replicates are added.
EXPECTED = {
    key: sorted({*rules, "table3_classes"})
    if "table3" in rules and not key.startswith("replicates")
    else rules
    for key, rules in EXPECTED.items()
}

# Memorization proxies (rules/proxies.smk). The proxy models read the reference's recipe, the data, the
# canaries and seeds from the master seed: they retrain where leave-one-out's full models do (not for
# loo.members, which only they read), where the index or canaries change, and for a new arch. Their
# validation reads the reference's scores (with memorized.csv whenever those change), leave-one-out, and
# names the reference and min_out. The proxy audit's setting (proxies.audit) is read by scope proxy only.
PROXY = ["fig_proxies", "proxies", "proxy_log", "proxies_validation"]


def proxy_reruns(key: str, rules: list[str]) -> list[str]:
    if key.startswith("replicates"):  # a further replicate's own index and canaries; no proxies of its own
        return []
    full = "loo_full" in rules and not key.startswith("loo.")
    if full or {"canaries", "dataset_index"} & set(rules) or key == "datasets.digits.archs (+ cnn)":
        return PROXY
    if {"memorized", "loo"} & set(rules) or key in ("scores.min_out", "analysis.reference"):
        return ["fig_proxies", "proxies_validation"]
    return []


EXPECTED = {k: sorted({*v, *proxy_reruns(k, v)}) for k, v in EXPECTED.items()}
EXPECTED |= {f"proxies.{k}": PROXY for k in ("models", "curvature_samples", "curvature_step")}
EXPECTED["proxies.audit"] = []

# The report's first page (rule summary) reads table1, table3, the gallery and the thresholds the gallery
# reads, the influence pairs, their comparison, Table 3's split and their gallery, and the proxies'
# validation and figure: it reruns exactly when one of those rules does.
SUMMARY_READS = {"table1", "table3", "fig_gallery", *INFLUENCE, "proxies_validation", "fig_proxies"}
EXPECTED = {
    key: [*rules, "summary"] if SUMMARY_READS & set(rules) else rules for key, rules in EXPECTED.items()
}


def scheduled(study, edit, configfile: Path) -> set[str]:
    """Rules a dry run schedules after `edit` (members_<first> counted as members). The edited config goes to
    `configfile`, which replaces config.yaml (Snakefile), so the study is left as it is."""
    cfg = copy.deepcopy(tiny_config())
    edit(cfg)
    configfile.write_text(yaml.safe_dump(cfg, sort_keys=False))
    if "dups.csv" in str(cfg):  # a ciFAIR-format list for the duplicates row
        (study / "dups.csv").write_text("test_index,train_index\n3,10\n")
    jobs = planned_jobs(study, "all", "--configfile", str(configfile))  # after the target: it takes a list
    return {"members" if r.startswith("members_") else r for r, _ in jobs} - {"all"}


@pytest.fixture(scope="module")
def matrix(study, request, tmp_path_factory) -> dict:
    """The rules each row of this session schedules (or the error it met), planned side by side: the dry runs
    edit no shared file and each uses about one core, so on 2 cores two at a time take half as long."""
    keys = [
        item.callspec.params["key"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_one_key_reruns_exactly_what_reads_it"
    ]
    folder = tmp_path_factory.mktemp("matrix")

    def row(i, key):
        try:
            return scheduled(study, EDITS[key], folder / f"{i}.yaml")
        except Exception as e:  # raised again by the row's own test
            return e

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        futures = {key: pool.submit(row, i, key) for i, key in enumerate(keys)}
    return {key: f.result() for key, f in futures.items()}


@pytest.mark.parametrize("key", list(EXPECTED))
def test_one_key_reruns_exactly_what_reads_it(matrix, key):
    got = matrix[key]
    if isinstance(got, Exception):
        raise got
    assert got == set(EXPECTED[key])


if __name__ == "__main__":  # print the matrix as measured on a finished study (docs/rerun.md)
    import tempfile

    study = Path(sys.argv[1])
    print("| key changed | rules scheduled again |\n|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for i, (key, edit) in enumerate(EDITS.items()):
            rules = scheduled(study, edit, Path(tmp) / f"{i}.yaml")
            print(f"| `{key}` | {', '.join(sorted(rules)) or 'nothing'} |", flush=True)


def test_a_changed_image_reindexes_its_dataset_only(tmp_path):
    """The index's params fingerprint the image folder (name, size, mtime per file)."""
    import os

    from PIL import Image
    from workflow_helpers import copy_workflow, snakemake

    folder = tmp_path / "photos"
    for split, n in (("train", 4), ("test", 2)):
        for c in ("cat", "dog"):
            (folder / split / c).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (10, 10), (40 * i, 100 if c == "cat" else 0, 7)).save(
                    folder / split / c / f"{i}.png"
                )
    cfg = tiny_config()
    cfg["datasets"]["mine"] = {
        "kind": "imagefolder",
        "root": str(folder),
        "image_size": 8,
        "archs": {"mlp": {}},
    }
    wd = copy_workflow(tmp_path / "wf", cfg)
    targets = ["results/digits/data/canaries.npz", "results/mine/data/canaries.npz"]
    snakemake(wd, *targets)
    assert "Nothing to be done" in snakemake(wd, "-n", *targets).stdout

    changed = folder / "train" / "dog" / "1.png"
    Image.new("RGB", (10, 10), (1, 2, 3)).save(changed)
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    jobs = planned_jobs(wd, *targets)
    assert {(r, w["dataset"]) for r, w in jobs} == {("dataset_index", "mine"), ("canaries", "mine")}, jobs
