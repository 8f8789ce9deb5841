"""Stage 5, file to file: removal sets, per-variant utility tables, Tables 1 and 3 (their figures, Figs. 4,
5, 10, 11: memgen.figures.jobs). Each `write_*` reads artifacts, calls memgen's logic and writes
artifacts, so the workflow scripts only unpack `snakemake` and every step is unit-tested without Snakemake.

Utility table `results/{dataset}/{arch}/utility/{variant}.csv` (written by write_utility):
    one row per seed s (0..M-1, sorted): seed (int), acc_memorized, acc_random (test accuracy in % of the
    run with the memorized / the random set removed), diff_pp (acc_memorized − acc_random, percentage
    points), acc_random_class, diff_class_pp (the same against the class-matched control; empty (NaN) where
    the removal set trains no class-matched runs: every set but Table 3's, memgen.variants), test_set
    ("original", "dedup" or a new test set's name), n_removed (points removed in each condition), n_test
    (test points evaluated: fewer than the test set under "dedup"), note ("" or a remark, e.g. how many
    listed duplicates were dropped).
    When the memorized set is empty no run is trained and the file holds ONE row with seed, acc_memorized,
    acc_random and diff_pp empty (NaN), n_removed 0, and the removal set's reason in `note`.
    Readers recognise that case by n_removed == 0 (read_utility returns utility None and the reason).

Per-test-point outcomes `results/{dataset}/{arch}/utility/{variant}.npz` beside it (write_utility,
read_points): seed int64 [M]; correct_<condition> bool [M, n] for every condition the removal set trains
(memorized, random, and random_class for Table 3's set only; the array is absent otherwise) over the whole
test array (the original test set under "dedup"); labels int64 [n]; keep bool
[n] (the points the variant's accuracies use); points (the test array's name), test_set, removal (the
removal id: variants with the same one share utility runs). Empty arrays for an empty memorized set.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd

import memgen.config as mc
from memgen.data.loaders import load_dataset
from memgen.ensemble.duplicates import load_duplicate_list
from memgen.ensemble.outputs import load_meta, load_outputs
from memgen.errors import fail
from memgen.io import load_json, load_npz, save_csv, save_npz
from memgen.paths import UTILITY_CONDITIONS
from memgen.scores.fdr import RULE as TEST_RULE
from memgen.scores.thresholds import test_verdicts
from memgen.utility.removal import class_matched, load_removal, removal_sets, save_removal
from memgen.utility.replicates import table1_combined, table3_combined
from memgen.utility.runs import UTILITY_COLUMNS, accuracy, dedup_keep, utility_frame
from memgen.utility.tables import class_table, table1, table3
from memgen.variants import CONDITIONS as PAPER_CONDITIONS
from memgen.variants import LABELS, VARIANTS

UTILITY_FILE_COLUMNS = (*UTILITY_COLUMNS, "n_test", "note")
CONDITIONS = UTILITY_CONDITIONS
POINTS_KEYS = ("seed", "labels", "keep", "points", "test_set", "removal")


def _read_csv(path, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise fail(f"{what} {path} does not exist", f"run the rule that makes it: snakemake {path}")
    try:
        # Only an empty cell is missing: pandas' default NA words include "null", the name of a variant.
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as e:
        raise fail(
            f"{what} {path} is empty or not a CSV ({type(e).__name__})",
            f"delete it and rerun: snakemake --forcerun {path}",
        ) from None


def read_score_table(path) -> pd.DataFrame:
    """scores.csv as the utility stage reads it (only an empty cell is missing)."""
    return _read_csv(path, "score table")


def _text(column: pd.Series) -> pd.Series:
    # an all-empty text column reads back as float NaN; empty means ""
    return pd.Series(["" if pd.isna(x) else str(x) for x in column], index=column.index, dtype=object)


# ---- removal sets ---------------------------------------------------------------------------------------
def write_removal(scores_path, thresholds_path, out_path, removal: dict) -> dict:
    """Removal sets (memorized + random control) of one removal id, saved with save_removal.

    `removal`: ensemble, definition, rule ("null" | "fixed" | "test"), min_out, seed (memgen.params.removal).
    τ = thresholds["rules"][rule][definition]["tau"] (None = undefined: empty set); the test rule has no τ:
    its set is re-derived from scores.csv at the level thresholds.json records (`_test_selected`).
    Returns the provenance extra {"seeds": {"random": seed}}.
    """
    scores = _read_csv(scores_path, "score table")
    thresholds = load_json(thresholds_path)
    rule, definition = removal["rule"], removal["definition"]
    try:
        entry = thresholds["rules"][rule][definition]
        tau = None if rule == TEST_RULE else entry["tau"]
    except (KeyError, TypeError):
        raise fail(
            f"{thresholds_path} has no τ for rule '{rule}' and definition '{definition}'",
            f"rerun the thresholds rule: snakemake --forcerun {thresholds_path}",
        ) from None
    if thresholds.get("min_out", removal["min_out"]) != removal["min_out"]:
        raise fail(
            f"{thresholds_path} was computed with min_out = {thresholds['min_out']}, "
            f"the removal set asks for {removal['min_out']}",
            f"rerun the thresholds rule: snakemake --forcerun {thresholds_path}",
        )
    # n_memorized None = the set is undefined (fit check failed, null at 0): its note is the reason
    undefined = entry.get("note") if entry.get("n_memorized", 0) is None else None
    # threshold.require_interval travels in thresholds.json, so the set is the one its counts describe
    req = bool(thresholds.get("require_interval", False))
    selected = _test_selected(scores, thresholds, rule, undefined)
    sets = removal_sets(
        scores, definition, tau, removal["min_out"], removal["seed"], undefined, req, selected
    )
    # Utility seed s gets its own random control, drawn from (seed, s): the paired t-test then carries the
    # variance of choosing random points, not only training noise (one shared draw gave p ~ 1e-17 on digits).
    draws = [
        removal_sets(
            scores, definition, tau, removal["min_out"], [removal["seed"], s], undefined, req, selected
        )
        for s in range(removal.get("seeds", 1))
    ]
    sets["random_by_seed"] = np.stack([d["random"] for d in draws]) if draws else sets["random"][None]
    # the class-matched control, also one draw per utility seed (its own stream: the uniform draws stay)
    sets["random_class_by_seed"] = np.stack(
        [class_matched(scores, sets["memorized"], [removal["seed"], s, 1]) for s in range(len(draws) or 1)]
    )
    if "path" in scores.columns:  # the files removed, for a user auditing an image folder
        paths = _text(scores["path"]).to_numpy()
        sets["memorized_path"], sets["random_path"] = paths[sets["memorized"]], paths[sets["random"]]
    save_removal(out_path, sets)
    return {"seeds": {"random": int(removal["seed"])}}


def _test_selected(scores: pd.DataFrame, thresholds: dict, rule: str, undefined) -> np.ndarray | None:
    """The test rule's set (bool [N], memgen.scores.thresholds.test_verdicts); None for a rule with τ."""
    if rule != TEST_RULE:
        return None
    v = None if undefined else test_verdicts(scores, thresholds)
    return np.zeros(len(scores), dtype=bool) if v is None else v["flagged"]


# ---- utility tables ---------------------------------------------------------------------------------------
def run_correct(run_paths, labels: np.ndarray, key: str) -> dict[str, dict[int, np.ndarray]]:
    """Per-test-point correctness (bool [n]) of every utility run, by condition then seed id.

    Each path is `.../{condition}/{shard}/{slot}/outputs.npz`, compact outputs (memgen.ensemble.outputs)
    holding set `key` (e.g. "test_original") and `seed_id`; the condition is read from the path, the seed from
    the file (so shard size does not matter).
    """
    labels = np.ravel(labels)
    out: dict[str, dict[int, np.ndarray]] = {c: {} for c in CONDITIONS}
    for p in map(Path, run_paths):
        condition = p.parts[-4] if len(p.parts) >= 4 else ""
        if condition not in CONDITIONS:
            raise fail(
                f"utility-run outputs {p} are not under a {'/, '.join(CONDITIONS)}/ folder",
                "pass paths .../utility/{removal}/{condition}/{shard}/{slot}/outputs.npz",
            )
        pred = load_outputs(p, sets=(key,), fields=("pred",))[key]["pred"]
        meta = load_meta(p)
        if "seed_id" not in meta:
            raise fail(f"{p} records no seed_id", f"delete it and rerun: snakemake --forcerun {p}")
        seed = int(meta["seed_id"])
        if seed in out[condition]:
            raise fail(f"two {condition} utility runs have seed id {seed} ({p})", "pass each run once")
        if len(pred) != len(labels):
            raise fail(
                f"{p} holds {len(pred)} points of {key}, the test set has {len(labels)}: "
                "it was made for another dataset",
                f"delete it and rerun: snakemake --forcerun {p}",
            )
        out[condition][seed] = np.asarray(pred) == labels
    return out


def run_accuracies(run_paths, labels: np.ndarray, key: str, keep=None) -> dict[str, dict[int, float]]:
    """Test accuracy (fraction) of every utility run, by condition then seed id (run_correct's outcomes,
    on the test points `keep` where given)."""
    correct = run_correct(run_paths, labels, key)
    keep = np.ones(len(np.ravel(labels)), dtype=bool) if keep is None else keep
    return {c: {s: accuracy(x, np.ones_like(x), keep) for s, x in by.items()} for c, by in correct.items()}


def _empty_utility(test_set: str, n_test, reason: str) -> pd.DataFrame:
    row = dict.fromkeys(UTILITY_FILE_COLUMNS, math.nan)
    row |= {"test_set": test_set, "n_removed": 0, "n_test": n_test, "note": reason or "no memorized points"}
    df = pd.DataFrame([row], columns=list(UTILITY_FILE_COLUMNS))
    return df.astype({"seed": "Int64", "n_test": "Int64"})


def points_path(utility_path) -> Path:
    """The per-test-point outcomes beside a utility table (memgen.paths.UTILITY_POINTS)."""
    return Path(utility_path).with_suffix(".npz")


def _save_points(path, correct: dict, m: int, labels, keep, names: dict, conditions=CONDITIONS) -> None:
    """The .npz of the module docstring (an array per condition of `conditions`); `names`: points, test_set,
    removal."""
    n = len(labels)
    arrays = {
        f"correct_{c}": np.stack([correct[c][s] for s in range(m)]) if m else np.zeros((0, n), bool)
        for c in conditions
    }
    save_npz(
        path,
        seed=np.arange(m, dtype=np.int64),
        labels=np.asarray(labels, dtype=np.int64),
        keep=np.asarray(keep, dtype=bool),
        **arrays,
        **{k: np.str_(v) for k, v in names.items()},
    )


def read_points(path) -> dict | None:
    """Per-test-point outcomes as written by write_utility: {"correct": {condition: bool [M, n]}, "labels",
    "keep", "seed", "points", "test_set", "removal"}, `correct` holding the conditions the removal set
    trained (memorized and random always); None for an empty memorized set (no runs)."""
    z = load_npz(path, keys=POINTS_KEYS + tuple(f"correct_{c}" for c in PAPER_CONDITIONS))
    if len(z["seed"]) == 0:
        return None
    out = {k: z[k] for k in ("seed", "labels")} | {"keep": z["keep"].astype(bool)}
    out |= {k: str(z[k]) for k in ("points", "test_set", "removal")}
    return out | {"correct": {c: z[f"correct_{c}"].astype(bool) for c in CONDITIONS if f"correct_{c}" in z}}


def _test_labels(dataset: str, spec: dict, test_set: str):
    ds = load_dataset(dataset, spec, data_root=spec.get("data_root", "data"))
    name = "original" if test_set == "dedup" else test_set
    if name not in ds.tests:
        raise fail(
            f"dataset '{dataset}' has no test set '{name}' (has {sorted(ds.tests)})",
            "configure the new test set under datasets.<name>.new_test_set",
        )
    return name, ds.tests[name][1]


def write_utility(
    removal_path, duplicates_path, run_paths, out_path, dataset: str, spec: dict, variant: dict, points=None
) -> None:
    """Utility table of one variant (format in the module docstring), and its per-test-point outcomes at
    `points` (default: points_path(out_path)).

    `spec`: the dataset's config entry with data_root (for the test labels); `variant`: test_set
    ("original" | "dedup" | a new test set's name), seeds (M, the runs expected per condition) and
    conditions (those the removal set trains, memgen.params.variant; default all three).
    """
    sets = load_removal(removal_path)
    n_removed = len(sets["memorized"])
    test_set, m = variant["test_set"], int(variant["seeds"])
    conditions = _conditions(variant)
    points = points_path(out_path) if points is None else points
    names = {"test_set": test_set, "removal": Path(removal_path).stem}
    run_paths = list(run_paths)
    if n_removed == 0:
        if run_paths:
            raise fail(
                f"{removal_path} removes no points but {len(run_paths)} utility runs were passed",
                "pass no runs for an empty memorized set (the workflow trains none)",
            )
        save_csv(out_path, _empty_utility(test_set, pd.NA, sets.get("reason", "")))
        _save_points(points, {}, 0, [], [], names | {"points": ""}, conditions)
        return
    name, labels = _test_labels(dataset, spec, test_set)
    keep, note = np.ones(len(labels), dtype=bool), ""
    if test_set == "dedup":
        keep = dedup_keep(len(labels), load_duplicate_list(duplicates_path))
        note = f"{int((~keep).sum())} of {len(labels)} test points dropped as duplicates of training points"
        if not keep.any():
            raise fail(f"{note}: none is left", "check the duplicate list: it lists every test point")
    correct = run_correct(run_paths, labels, f"test_{name}")
    _check_seeds(correct, conditions, m)
    acc = {c: {s: float(x[keep].mean()) for s, x in by.items()} for c, by in correct.items()}
    cls = acc["random_class"] if "random_class" in conditions else None
    df = utility_frame(acc["memorized"], acc["random"], n_removed, test_set, cls)
    df["n_test"] = int(keep.sum())
    df["note"] = note
    _save_points(points, correct, m, labels, keep, names | {"points": name}, conditions)
    save_csv(out_path, df)


def _conditions(variant: dict) -> tuple[str, ...]:
    """The conditions a variant's removal set trains (memgen.params.variant), in CONDITIONS order."""
    asked = list(variant.get("conditions", CONDITIONS))
    if not set(PAPER_CONDITIONS) <= set(asked) or not set(asked) <= set(CONDITIONS):
        raise fail(
            f"utility conditions {asked}: memorized and random are needed, {list(CONDITIONS)} known",
            "pass the conditions of memgen.variants.run_conditions",
        )
    return tuple(c for c in CONDITIONS if c in asked)


def _check_seeds(correct: dict, conditions: tuple[str, ...], m: int) -> None:
    """Every condition the removal set trains has seeds 0..m-1; one it does not train, no run."""
    for condition in CONDITIONS:
        seeds = sorted(correct[condition])
        if condition not in conditions and seeds:
            raise fail(
                f"{len(seeds)} {condition} utility runs were passed, but this removal set trains none",
                f"pass the runs of its conditions only ({', '.join(conditions)})",
            )
        if condition in conditions and seeds != list(range(m)):
            raise fail(
                f"{condition} utility runs have seed ids {seeds}, expected 0..{m - 1}",
                f"pass the outputs of all {m} seeds of every condition ({', '.join(conditions)})",
            )


def read_utility(path) -> dict:
    """A utility table: {"utility": DataFrame or None (empty memorized set), "reason", "test_set"}."""
    df = _read_csv(path, "utility table")
    missing = [c for c in UTILITY_FILE_COLUMNS if c not in df.columns]
    if missing or df.empty:
        raise fail(
            f"utility table {path} lacks columns {missing} or rows",
            f"rerun the utility rule: snakemake --forcerun {path}",
        )
    df["note"] = _text(df["note"])
    test_sets = df["test_set"].astype(str).unique()
    if len(test_sets) != 1:
        raise fail(f"utility table {path} mixes test sets {list(test_sets)}", "rerun the utility rule")
    if (df["n_removed"] == 0).any():
        return {"utility": None, "reason": df["note"].iloc[0], "test_set": test_sets[0]}
    df = df.astype({"seed": np.int64, "n_removed": np.int64})
    return {"utility": df, "reason": "", "test_set": test_sets[0]}


def utility_path_parts(path) -> tuple[str, str, str]:
    """results/{dataset}/{arch}/utility/{variant}.csv -> (dataset, arch, variant)."""
    p = Path(path)
    if len(p.parts) < 4 or p.parts[-2] != "utility" or p.suffix != ".csv" or p.stem not in VARIANTS:
        raise fail(
            f"{path} is not a utility table path", "pass results/{dataset}/{arch}/utility/{variant}.csv"
        )
    return p.parts[-4], p.parts[-3], p.stem


# ---- tables ---------------------------------------------------------------------------------------------
def write_table1(utility_paths, out_path) -> None:
    """Table 1 (ablation): tables.table1 columns, plus `setting` (the paper's row label) after variant.
    Each utility table's per-test-point outcomes are read beside it (points_path).

    Within each (dataset, arch), rows follow VARIANTS order with the baseline first (its Δ reference);
    (dataset, arch) groups keep the order of `utility_paths`.
    """
    entries = []
    for path in utility_paths:
        dataset, arch, variant = utility_path_parts(path)
        u = read_utility(path) | {"points": read_points(points_path(path))}
        entries.append({"dataset": dataset, "arch": arch, "variant": variant, **u})
    groups = list(dict.fromkeys((e["dataset"], e["arch"]) for e in entries))  # a replicate is its own group
    order = list(VARIANTS)
    ordered = []
    for g in groups:
        members = sorted(
            (e for e in entries if (e["dataset"], e["arch"]) == g), key=lambda e: order.index(e["variant"])
        )
        if members[0]["variant"] != "baseline":
            raise fail(
                f"Table 1 for {g[0]}/{g[1]} has no baseline utility table", "pass utility/baseline.csv too"
            )
        ordered += members
    df = table1(ordered)
    df.insert(df.columns.get_loc("variant") + 1, "setting", df["variant"].map(LABELS))
    save_csv(out_path, with_replicates(df, table1_combined))


def write_table3(utility_paths, out_path) -> None:
    """Table 3: tables.table3 columns, plus `variant` (which ablation setting filled it) after arch; the
    per-test-point outcomes are read beside each utility table (points_path)."""
    parts = []
    for path in utility_paths:
        dataset, arch, variant = utility_path_parts(path)
        row = {"dataset": dataset, "arch": arch, **read_utility(path)}
        part = table3([row | {"points": read_points(points_path(path))}])  # one row per control
        part.insert(part.columns.get_loc("arch") + 1, "variant", variant)
        parts.append(part)
    df = pd.concat(parts, ignore_index=True)
    save_csv(out_path, with_replicates(df, table3_combined))


def _removed_per_class(sets: dict, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Training points of each class each condition removes (the per-seed controls averaged over seeds)."""
    c = int(labels.max()) + 1 if len(labels) else 0

    def mean_count(by_seed) -> np.ndarray:
        by_seed = np.asarray(by_seed, dtype=np.int64)
        if by_seed.size == 0:  # no draw recorded (a removal set written before the control existed)
            return np.zeros(c)
        by_seed = by_seed.reshape(len(by_seed), -1)
        return np.mean([np.bincount(labels[r], minlength=c) for r in by_seed], axis=0)

    return {
        "memorized": np.bincount(labels[sets["memorized"]], minlength=c).astype(float),
        "random": mean_count(sets.get("random_by_seed", sets["random"][None])),
        "class_matched": mean_count(sets.get("random_class_by_seed", np.zeros((0, 0), np.int64))),
    }


def write_table3_classes(utility_path, points, removal_path, scores_path, index_path, out_path) -> None:
    """table3_classes.csv: Table 3's variant per class (tables.class_table), after dataset, arch, variant and
    test_set. Removal counts use scores.csv's true labels; class names the index's."""
    from memgen.data.index import load_index

    dataset, arch, variant = utility_path_parts(utility_path)
    u = read_utility(utility_path)
    outcomes = read_points(points)
    idx = load_index(index_path)
    labels = _read_csv(scores_path, "score table")["true_label"].to_numpy(dtype=np.int64)
    removed = _removed_per_class(load_removal(removal_path), labels)
    df = class_table(outcomes, removed, idx["classes"], idx["test_labels"], u["reason"])
    for i, (k, v) in enumerate(
        {"dataset": dataset, "arch": arch, "variant": variant, "test_set": u["test_set"]}.items()
    ):
        df.insert(i, k, v)
    save_csv(out_path, df)


def read_table3_classes(path) -> pd.DataFrame:
    """table3_classes.csv as written (class names read as text)."""
    df = _read_csv(path, "Table 3 per class")
    df["class_name"] = _text(df["class_name"])
    df["note"] = _text(df["note"])
    return df


def with_replicates(df: pd.DataFrame, combined) -> pd.DataFrame:
    """The table with `replicate` after arch (a replicate's rows name their dataset, 'digits.rep2' ->
    'digits', replicate 2), `holds` before note, and after each dataset x arch's rows (replicate 1 first)
    their combined row where there are several replicates (memgen.utility.replicates)."""
    split = [mc.split_replicate(d) for d in df["dataset"]]
    df = df.copy()
    df["dataset"] = [d for d, _ in split]
    df.insert(df.columns.get_loc("arch") + 1, "replicate", [str(r) for _, r in split])
    df.insert(df.columns.get_loc("note"), "holds", "")
    parts = []
    for _, g in df.groupby(["dataset", "arch"], sort=False):  # in the order the paths came, replicate 1 first
        parts += [g, combined(g)]
    return pd.concat(parts, ignore_index=True)


def read_table1(path) -> pd.DataFrame:
    """Table 1 as written (the variant "null" stays a string: pandas would read it as NaN by default)."""
    df = _read_csv(path, "Table 1")
    df["note"] = _text(df["note"])
    df["evaluation_only"] = df["evaluation_only"].astype(str).str.lower().eq("true")
    return df


def read_table3(path) -> pd.DataFrame:
    """Table 3 as written: `significant_0.05` back to a nullable boolean (NA when p is undefined)."""
    df = _read_csv(path, "Table 3")
    df["significant_0.05"] = df["significant_0.05"].astype("boolean")
    df["note"] = _text(df["note"])
    return df
