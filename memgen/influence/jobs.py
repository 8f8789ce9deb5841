"""The influence stage's jobs, file to file: influence.csv and its record influence.json from one ensemble's
members, their comparison with the duplicate detector, and Table 3 split by high-influence memorized partner
(the gallery of pairs: memgen.figures.jobs.write_fig_influence)."""

import logging
import math
from collections import Counter

import numpy as np
import pandas as pd

from memgen.analysis.memorized import read_memorized
from memgen.data.index import load_index, point_paths
from memgen.ensemble.duplicates import load_duplicate_list
from memgen.ensemble.outputs import load_outputs
from memgen.errors import fail
from memgen.influence.compute import (
    PAIR_COLUMNS,
    adjusted,
    contested,
    flagged,
    high_influence,
    influence_pairs,
    min_flaggable,
    pair_stats,
    tested_pairs,
    valid_training,
)
from memgen.influence.leakage import (
    PARTS,
    against_duplicates,
    contributions,
    detector_pairs,
    matched_control,
    parts,
    split_family,
    strata,
    strongest_pairs,
    with_partner,
)
from memgen.io import load_json, load_npz, save_csv, save_json
from memgen.utility.removal import load_removal
from memgen.utility.runs import dedup_keep

log = logging.getLogger(__name__)

STAT_COLUMNS = PAIR_COLUMNS[2:]  # rank .. n_out, as memgen.influence.compute gives them
TEST_SET = "original"  # score members are evaluated on the dataset's own test set (memgen/ensemble/jobs.py)
INFLUENCE_COLUMNS = (
    "train_index",
    "train_file",
    "train_label",
    "train_label_name",
    "test_set",
    "test_index",
    "test_file",
    "test_label",
    "test_label_name",
    *STAT_COLUMNS,
    "high",
    "memorized",
)
SPLIT_COLUMNS = (
    "dataset",
    "arch",
    "variant",
    "test_set",
    "part",
    "n_test",
    "acc_memorized_removed",
    "acc_random_removed",
    "diff_pp",
    "std_pp",
    "p_seeds",
    "ci_lo_pp",
    "ci_hi_pp",
    "p_value",
    "contribution_pp",
    "seeds",
    "n_removed",
    "influence_ensemble",
    "cross_fitted",
    "partner_family",
    "min_flaggable_infl",
    "note",
)
CONDITIONS = ("memorized", "random")  # the split compares Table 3's paper control, random removal


def member_test_outputs(member_paths, n_test: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """correct bool [K, T] and label log-odds float32 [K, T] of every member on the original test set; a
    member file holding another number of test points fails naming it."""
    key = f"test_{TEST_SET}"
    correct = np.empty((len(member_paths), n_test), dtype=bool)
    log_odds = np.empty((len(member_paths), n_test), dtype=np.float32)
    for k, p in enumerate(member_paths):
        out = load_outputs(p, sets=(key,), fields=("pred", "log_odds"))[key]
        if len(out["pred"]) != n_test:
            raise fail(
                f"{p} holds {len(out['pred'])} points of the test set, the index {n_test}: made for another "
                "dataset",
                f"delete it and rerun: snakemake --forcerun {p}",
            )
        correct[k] = out["pred"] == labels
        log_odds[k] = out["log_odds"]
    return correct, log_odds


def ensemble_outputs(masks_path, member_paths, index_path, canaries_path) -> dict:
    """One ensemble's mask [K, N], its members' correctness and label log-odds on the original test set
    [K, T], the canary flags [N] and the index; a mask that does not match the members or the index fails."""
    idx = load_index(index_path)
    mask = load_npz(masks_path, ["mask"])["mask"].astype(bool)
    member_paths = list(member_paths)
    if len(member_paths) != len(mask) or mask.shape[1] != idx["n"]:
        raise fail(
            f"{masks_path} masks {mask.shape} (members x points); {len(member_paths)} member outputs and "
            f"{idx['n']} training points were passed",
            f"rerun the ensemble: snakemake --forcerun {masks_path}",
        )
    test_labels = np.asarray(idx["test_labels"], dtype=np.int64)
    correct, log_odds = member_test_outputs(member_paths, len(test_labels), test_labels)
    canary = load_npz(canaries_path, ["canary"])["canary"].astype(bool)
    return {"idx": idx, "mask": mask, "correct": correct, "log_odds": log_odds, "canary": canary}


def write_influence(
    masks_path, member_paths, index_path, canaries_path, memorized_path, out, summary_out, params
) -> dict:
    """influence.csv (INFLUENCE_COLUMNS), one row per kept pair, by test point then rank, and influence.json
    (influence_summary): the bar a high-influence pair must clear at this ensemble's size.

    params: ensemble, cross_fitted, top, threshold, alpha (memgen.params.influence). Canaries are excluded:
    their influence describes the score ensembles' planted labels, not the dataset.
    """
    e = ensemble_outputs(masks_path, member_paths, index_path, canaries_path)
    pairs = influence_pairs(
        e["mask"], e["correct"], e["log_odds"], e["canary"], params["top"], params["threshold"]
    )
    memorized = read_memorized(memorized_path)["index"].to_numpy(np.int64)
    table = influence_table(pairs, e["idx"], params, memorized)
    summary = influence_summary(e["mask"], e["correct"], e["canary"], table, params)
    save_csv(out, table)
    save_json(summary_out, summary)
    _log_influence(table, summary)
    return {
        "pairs": len(table),
        "high": int(table["high"].sum()),
        "min_flaggable_infl": summary["min_flaggable_infl"],
    }


def _none_if_nan(x: float):
    return None if x is None or not math.isfinite(x) else float(x)


def influence_summary(mask, correct, canary, table: pd.DataFrame, params: dict) -> dict:
    """influence.json: the ensemble and its size, the typical n_in / n_out of a training point (balanced masks
    give every point the same), the Bonferroni family of `high` (tested_pairs) and its per-pair level, the
    smallest influence that can be flagged at that size (min_flaggable: the real bar, not the threshold), the
    smallest one flagged, counts, each test point's members right (`test_right`: difficulty and contestedness
    for the readers) and the natural training points whose influence is not measured (`invalid_train`)."""
    valid = valid_training(mask, canary)
    n_in = Counter(np.asarray(mask, bool)[:, valid].sum(0).tolist())
    k = len(mask)
    typical = max(n_in, key=lambda v: (n_in[v], v)) if n_in else 0
    family = tested_pairs(mask, correct, canary)
    hi = table[table["high"]]
    return {
        "ensemble": params["ensemble"],
        "cross_fitted": bool(params["cross_fitted"]),
        "members": k,
        "n_in": int(typical),
        "n_out": int(k - typical),
        "n_in_values": sorted(int(v) for v in n_in),
        "threshold": params["threshold"],
        "alpha": params["alpha"],
        "valid_train_points": int(valid.sum()),
        "contested_test_points": int(contested(correct).sum()),
        "tested_pairs": family,
        "level": params["alpha"] / family if family else None,
        "min_flaggable_infl": _none_if_nan(
            min_flaggable(typical, k - typical, family, params["alpha"], params["threshold"])
        ),
        "kept_pairs": len(table),
        "high_pairs": len(hi),
        "high_memorized": int(hi["memorized"].sum()),
        "smallest_flagged_infl": float(hi["infl"].min()) if len(hi) else None,
        "test_right": np.asarray(correct, bool).sum(0).astype(int).tolist(),
        "invalid_train": np.flatnonzero(~valid & ~np.asarray(canary, bool)).tolist(),
    }


def influence_table(pairs: pd.DataFrame, idx: dict, params: dict, memorized: np.ndarray) -> pd.DataFrame:
    """The kept pairs with each point's file, label and class name, whether the pair is high-influence
    (memgen.influence.compute.high_influence) and whether the training point is memorized."""
    classes = np.asarray(idx["classes"], dtype=object)
    train, test = pairs["train"].to_numpy(np.int64), pairs["test"].to_numpy(np.int64)
    train_label = np.asarray(idx["labels"], dtype=np.int64)[train]
    test_label = np.asarray(idx["test_labels"], dtype=np.int64)[test]
    table = pd.DataFrame(
        {
            "train_index": train,
            "train_file": point_paths(idx, "train")[train],
            "train_label": train_label,
            "train_label_name": classes[train_label],
            "test_set": TEST_SET,
            "test_index": test,
            "test_file": point_paths(idx, "test")[test],
            "test_label": test_label,
            "test_label_name": classes[test_label],
        }
    )
    for c in STAT_COLUMNS:
        table[c] = pairs[c].to_numpy()
    table["high"] = high_influence(pairs, params["threshold"], params["alpha"])
    table["memorized"] = np.isin(train, memorized)
    return table[list(INFLUENCE_COLUMNS)]


def _log_influence(table: pd.DataFrame, summary: dict) -> None:
    hi = table[table["high"]]
    log.info(
        "%s (%d members, %d in / %d out per training point): kept %d pairs over %d test points; "
        "%d high-influence (infl >= %s and exact p, Bonferroni over %d pairs, <= %s), %d of them with a "
        "memorized training point; the smallest influence that can be flagged at this size: %s",
        summary["ensemble"],
        summary["members"],
        summary["n_in"],
        summary["n_out"],
        len(table),
        table["test_index"].nunique(),
        len(hi),
        summary["threshold"],
        summary["tested_pairs"],
        summary["alpha"],
        summary["high_memorized"],
        _num(summary["min_flaggable_infl"]),
    )
    for r in strongest_pairs(hi, 5).itertuples():
        log.info(
            "  train %d (%s) -> test %d (%s): infl %.2f [%.2f, %.2f]",
            r.train_index,
            r.train_label_name,
            r.test_index,
            r.test_label_name,
            r.infl,
            r.infl_lo,
            r.infl_hi,
        )


def _num(x, fmt: str = "{:.3f}") -> str:
    return "none (no count table passes)" if x is None else fmt.format(x)


def read_influence(path, columns=None, rows=None) -> pd.DataFrame:
    """influence.csv as written (files read as text, flags as booleans); a wrong header fails naming it.

    At N = 60,000 it holds ~10^7 rows (1.7 GB): `columns` reads only those, and `rows` (a function of a
    chunk giving the rows of it to keep) is applied chunk by chunk, so a job that needs the high-influence
    or the strongest pairs never holds the whole table. attrs: "rows" (the table's row count) and "high"
    (its high-influence pairs, where the column is read)."""
    usecols = None if columns is None else [c for c in INFLUENCE_COLUMNS if c in set(columns)]
    try:
        with open(path, encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split(",")
        missing = [c for c in INFLUENCE_COLUMNS if c not in header]
        if missing:
            fix = f"rerun: snakemake --forcerun {path}"
            raise fail(f"influence table {path} lacks columns {missing}", fix)
        chunks, n, n_high = [], 0, 0
        reader = pd.read_csv(
            path,
            usecols=usecols,
            keep_default_na=False,
            na_values=[""],
            dtype={"train_file": str, "test_file": str},
            chunksize=_CHUNK_ROWS,
        )
        for chunk in reader:
            chunk = _typed(chunk)
            n += len(chunk)
            n_high += int(chunk["high"].sum()) if "high" in chunk.columns else 0
            chunks.append(chunk if rows is None else rows(chunk))
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as e:
        raise fail(f"cannot read influence table {path}: {e}", "rerun the influence rule") from None
    df = pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(columns=usecols or list(header))
    df.attrs |= {"rows": n, "high": n_high}
    return df


_CHUNK_ROWS = 500_000  # ~100 MB of parsed rows at a time


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for c in ("train_file", "test_file"):
        if c in df.columns:
            df[c] = df[c].fillna("")
    for c in ("high", "memorized"):
        if c in df.columns:
            df[c] = df[c].astype(str).str.lower().eq("true")
    return df


def high_rows(df: pd.DataFrame) -> pd.DataFrame:
    """read_influence's `rows` for jobs that use only the high-influence pairs."""
    return df[df["high"]]


def _pairs(table: pd.DataFrame) -> pd.DataFrame:
    return table.rename(columns={"train_index": "train", "test_index": "test"})


def write_influence_duplicates(
    influence_path, duplicates_path, masks_path, member_paths, index_path, canaries_path, out
) -> pd.DataFrame:
    """influence_duplicates.csv (memgen.influence.leakage.DUPLICATE_COLUMNS): the high-influence pairs and
    the detector's on equal terms. The detector's pairs are limited to the training points influence
    measures (no canary), and every one of them gets its influence from the influence ensemble's members
    (pair_stats), whether influence.csv keeps it or not."""
    table = read_influence(influence_path, ("train_index", "test_index", "infl", "high"), high_rows)
    e = ensemble_outputs(masks_path, member_paths, index_path, canaries_path)
    on = contested(e["correct"])
    train, test, dropped = detector_pairs(
        load_duplicate_list(duplicates_path), valid_training(e["mask"], e["canary"])
    )
    infl = pair_stats(e["mask"], e["correct"], None, train, test)["infl"]
    detector = pd.DataFrame({"train": train, "test": test, "infl": infl})
    never = int((~on[test]).sum())
    note = (
        f"left out: {dropped} pairs naming a canary or unmeasured training point (influence excludes them); "
        f"{never} of {len(train)} on test points every member gets right or every member wrong (influence 0)"
    )
    high = _pairs(table[table["high"]])[["train", "test", "infl"]]
    df = against_duplicates(high, detector, on, note)
    save_csv(out, df)
    for r in df.itertuples():
        log.info(
            "%s: %d pairs on %d contested test points, %d of those test points found by the other (%s)",
            r.source,
            r.pairs,
            r.contested_test_points,
            r.found_test_point,
            r.note or "-",
        )
    return df


def paired_runs(run_paths, labels: np.ndarray, m: int) -> dict[str, np.ndarray]:
    """Correctness bool [M, T] on the original test set of the runs after memorized and after random
    removal, rows paired by seed id (memgen.utility.jobs.run_correct reads each run once)."""
    from memgen.utility.jobs import run_correct

    by = run_correct(run_paths, labels, f"test_{TEST_SET}")
    seeds = sorted(by["memorized"])
    if seeds != sorted(by["random"]) or len(seeds) != m:
        raise fail(
            f"utility seeds do not pair: memorized {seeds}, random {sorted(by['random'])}, {m} expected",
            "pass every utility run of both conditions",
        )
    return {c: np.stack([by[c][s] for s in seeds]) for c in CONDITIONS}


def _part_row(runs: dict, weight: np.ndarray) -> dict:
    """The Table 3 columns of one part: accuracies (%) after memorized vs random removal, their difference
    (pp) with the seed-only std and p and the test-aware 95 % interval and p (two_way_test: seeds and test
    points both random, as Table 3's). `weight`: a bool part, or the matched control's weights (the
    weighted mean is the mean of n x w_j x d_sj over its n points, so the same test applies)."""
    from memgen.utility.stats import two_way_test

    take = weight if weight.dtype == bool else weight > 0
    n = int(take.sum())
    if n == 0:
        return {"n_test": 0, "note": "no test point in this part"}
    scale = 1.0 if weight.dtype == bool else weight[take] * n
    mem, rnd = (runs[c][:, take].astype(np.float64) for c in CONDITIONS)
    t = two_way_test((mem - rnd) * scale)
    acc = {c: 100.0 * float((x * scale).mean()) for c, x in zip(CONDITIONS, (mem, rnd), strict=True)}
    return {
        "n_test": n,
        "acc_memorized_removed": acc["memorized"],
        "acc_random_removed": acc["random"],
        "diff_pp": t["score"],
        "std_pp": t["std"],
        "p_seeds": t["p_seeds"],
        "ci_lo_pp": t["ci_lo"],
        "ci_hi_pp": t["ci_hi"],
        "p_value": t["p"],
        "seeds": t["n_seeds"],
        "note": "",
    }


SPLIT_READS = ("train_index", "test_index", "infl", "p_value")  # what partner_flag reads of influence.csv


def partner_candidates(summary: dict, memorized: np.ndarray):
    """read_influence's `rows` for the split: the pairs partner_flag can flag (a memorized training point,
    infl at the threshold or above); the others cannot pass `flagged` whatever their p."""
    members = np.asarray(memorized, dtype=np.int64)

    def keep(df: pd.DataFrame) -> pd.DataFrame:
        return df[(df["infl"].to_numpy(float) >= summary["threshold"]) & np.isin(df["train_index"], members)]

    return keep


def partner_flag(table: pd.DataFrame, summary: dict, memorized: np.ndarray, n_test: int) -> dict:
    """The split's partner flag: test points with a pair to a removed memorized point whose influence
    reaches the threshold and whose exact p passes alpha, Bonferroni over the split's own family
    (leakage.split_family: memorized x contested test points), and that family's bar (min_flaggable)."""
    family = split_family(memorized, summary["invalid_train"], summary["contested_test_points"])
    p_adj = adjusted(table["p_value"].to_numpy(float), max(family, 1))
    flag = flagged(table["infl"], p_adj, summary["threshold"], summary["alpha"])
    bar = min_flaggable(summary["n_in"], summary["n_out"], family, summary["alpha"], summary["threshold"])
    return {"partner": with_partner(_pairs(table), flag, memorized, n_test), "family": family, "bar": bar}


def _split_rows(runs, base, partner, stratum) -> list[dict]:
    """The four parts (PARTS) of one test set: all, with and without partner (with their contributions to
    the total) and the matched control (without-partner points standardised to the with-partner points'
    difficulty; not a part of the sum)."""
    masks = parts(base, partner)
    rows = {p: _part_row(runs, keep) for p, keep in masks.items()}
    weight, unmatched = matched_control(base, partner, stratum)
    rows["matched_control"] = _part_row(runs, weight)
    n = {p: rows[p]["n_test"] for p in masks}
    diff = {p: rows[p].get("diff_pp", math.nan) for p in masks}
    for p, c in contributions(n, diff).items():
        rows[p]["contribution_pp"] = c
    if unmatched:
        rows["matched_control"]["note"] = f"{unmatched} with-partner points have no control in their stratum"
    return [{"part": p, **rows[p]} for p in PARTS]


def write_table3_split(
    influence_path, summary_path, removal_path, run_paths, index_path, duplicates_path, out, params
) -> pd.DataFrame:
    """table3_split.csv (SPLIT_COLUMNS): the Table 3 variant's memorized-vs-random difference on the test
    points with and without a high-influence memorized partner (partner_flag), each part's contribution to
    the total, and a control of without-partner points matched to the with-partner ones on difficulty (the
    influence ensemble's share of members right: memgen.influence.leakage.matched_control), on the original
    test set and, where Table 3 uses the de-duplicated one, on that too.

    params: dataset, arch, variant, test_set (Table 3's), seeds. The split is cross-fitted when influence.json
    says its members choose no memorized set (memgen.config.choosing_ensembles). Influence exists only where
    the members were evaluated, the original test set: a new test set (CIFAR-10.1) is not split.
    """
    summary = load_json(summary_path)
    sets = load_removal(removal_path)
    memorized = sets["memorized"]
    table = read_influence(influence_path, SPLIT_READS, partner_candidates(summary, memorized))
    labels = np.asarray(load_index(index_path)["test_labels"], dtype=np.int64)
    flag = partner_flag(table, summary, memorized, len(labels))
    stratum = strata(summary["test_right"], summary["members"])
    bases = {TEST_SET: np.ones(len(labels), dtype=bool)}
    if params["test_set"] == "dedup":
        bases["dedup"] = dedup_keep(len(labels), load_duplicate_list(duplicates_path))
    crossed = bool(summary["cross_fitted"])
    notes = [] if crossed else [f"not cross-fitted: {summary['ensemble']} chooses memorized sets too"]
    if params["test_set"] not in bases:
        notes.append(
            f"Table 3 uses {params['test_set']}, where no influence is measured: the original is split"
        )
    runs = paired_runs(run_paths, labels, int(params["seeds"])) if len(memorized) else None
    common = {k: params[k] for k in ("dataset", "arch", "variant")} | {
        "seeds": 0,
        "n_removed": len(memorized),
        "influence_ensemble": summary["ensemble"],
        "cross_fitted": crossed,
        "partner_family": flag["family"],
        "min_flaggable_infl": flag["bar"],
    }
    rows = []
    for test_set, base in bases.items():
        if runs is None:
            reason = sets.get("reason", "") or "no memorized points"
            split = [
                {"part": p, "n_test": int(k.sum()), "note": reason}
                for p, k in parts(base, flag["partner"]).items()
            ]
            split.append({"part": "matched_control", "n_test": 0, "note": reason})
        else:
            split = _split_rows(runs, base, flag["partner"], stratum)
        for r in split:
            note = "; ".join(x for x in (r.pop("note", ""), *notes) if x)
            rows.append(
                dict.fromkeys(SPLIT_COLUMNS, math.nan) | common | {"test_set": test_set} | r | {"note": note}
            )
    df = pd.DataFrame(rows, columns=list(SPLIT_COLUMNS))
    save_csv(out, df)
    _log_split(df)
    return df


def _log_split(df: pd.DataFrame) -> None:
    for r in df.itertuples():
        log.info(
            "%s %s: %s test points, diff %.2f pp (p %.2g), contribution %.2f pp",
            r.test_set,
            r.part,
            r.n_test,
            r.diff_pp,
            r.p_value,
            r.contribution_pp,
        )
