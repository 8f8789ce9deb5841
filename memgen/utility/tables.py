"""The study's tables: the ablation (paper Table 1/4) and utility per dataset × arch (Table 3).

Each Score has two tests (memgen.utility.stats): `p_seeds`, over utility seeds alone (the test set fixed), and
the test-aware `p_value` with its interval `ci_lo_pp`, `ci_hi_pp` (seeds and test points both random; from
the per-test-point outcomes, `points`). Where a row has no per-test-point outcomes the test-aware columns
are NaN and its note says so.
"""

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.utility.stats import dropped_points_test, paired_score, two_way_delta, two_way_test

TABLE1_COLUMNS = (
    "dataset",
    "arch",
    "variant",
    "evaluation_only",
    "score_pp",
    "std_pp",
    "p_seeds",
    "ci_lo_pp",
    "ci_hi_pp",
    "p_value",
    "delta_pp",
    "delta_p_seeds",
    "delta_ci_lo_pp",
    "delta_ci_hi_pp",
    "delta_p_value",
    "seeds",
    "n_test",
    "n_removed",
    "note",
)
TABLE3_COLUMNS = (
    "dataset",
    "arch",
    "control",
    "test_set",
    "acc_memorized_removed",
    "acc_control_removed",
    "diff_pp",
    "std_pp",
    "p_seeds",
    "ci_lo_pp",
    "ci_hi_pp",
    "p_value",
    "significant_0.05",
    "seeds",
    "n_test",
    "n_removed",
    "note",
)
# Table 3's controls: the paper's uniform random draw, and as many random points of each class as the
# memorized set holds (memgen.utility.removal.class_matched): name -> (utility-run condition, frame columns)
CONTROLS = {
    "random": ("random", "acc_random", "diff_pp"),
    "class_matched": ("random_class", "acc_random_class", "diff_class_pp"),
}
NAN = float("nan")
NO_POINTS = "no per-test-point outcomes: no test-aware p"
EVALUATION_ONLY = (
    "evaluation-only: the baseline's utility runs on fewer test points; Δ tested over test points"
)


def _usable(utility) -> bool:
    return utility is not None and len(utility) > 0


def _n_removed(utility: pd.DataFrame, where: str) -> int:
    values = utility["n_removed"].unique()
    if len(values) != 1:
        raise fail(
            f"utility table of {where} mixes removal sizes {sorted(values.tolist())}",
            "build one utility table per removal set",
        )
    return int(values[0])


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _few_seeds(n: int) -> str:
    return "fewer than 2 seeds: no t-test" if 0 < n < 2 else ""


def control_diff(points: dict, control: str = "random") -> np.ndarray:
    """Per (seed, test point) of the whole test array: correct after memorized removal − after the control's
    (float [M, n], values -1, 0, 1); `control` a CONTROLS name."""
    condition = CONTROLS[control][0]
    return points["correct"]["memorized"].astype(np.float64) - points["correct"][condition].astype(np.float64)


def _side(points: dict) -> dict:
    return {"diff": control_diff(points), "keep": points["keep"], "points": points["points"]}


def score_columns(points, diff_seeds, control: str = "random") -> dict:
    """score_pp-like columns of one Score: std and p_seeds over seeds (diff_seeds, pp per seed), and with
    per-test-point outcomes the test-aware ci_lo, ci_hi and p (two_way_test on the kept test points)."""
    s = paired_score(diff_seeds)
    out = {"score": s["score"], "std": s["std"], "p_seeds": s["p"], "n": s["n"]}
    if points is None:
        return out | {"ci_lo": NAN, "ci_hi": NAN, "p": NAN, "n_test": pd.NA}
    t = two_way_test(control_diff(points, control)[:, points["keep"]])
    return out | {"ci_lo": t["ci_lo"], "ci_hi": t["ci_hi"], "p": t["p"], "n_test": int(points["keep"].sum())}


# ---- Table 1 -----------------------------------------------------------------------------------------------
def evaluation_only(v: dict, base: dict) -> bool:
    """A variant that reuses the baseline's utility runs (same removal set) on a subset of its test points."""
    pv, pb = v.get("points"), base.get("points")
    if (
        v is base
        or pv is None
        or pb is None
        or pv["removal"] != pb["removal"]
        or pv["points"] != pb["points"]
    ):
        return False
    return bool(not (pv["keep"] & ~pb["keep"]).any())


def _delta(v: dict, base: dict, only: bool) -> dict:
    """Δ columns of a variant against the baseline (both usable)."""
    dv, db = v["utility"]["diff_pp"].to_numpy(float), base["utility"]["diff_pp"].to_numpy(float)
    pv, pb = v.get("points"), base.get("points")
    if only:  # the same runs: over seeds, Δ is the baseline's differences rescaled, so no seed test
        keep = pb["keep"]
        r = dropped_points_test(control_diff(pb)[:, keep], pv["keep"][keep])
        return {
            "delta_pp": r["delta"],
            "delta_p_seeds": NAN,
            "delta_ci_lo_pp": NAN,
            "delta_ci_hi_pp": NAN,
        } | {"delta_p_value": r["p"]}
    if len(dv) != len(db):
        raise fail(
            f"{v['variant']} has {len(dv)} utility seeds, the baseline {len(db)}",
            "run every variant with the same utility.seeds (Δ is paired by seed)",
        )
    seeds = paired_score(dv, db)  # shared seed ids: the paired t-test on per-seed differences
    out = {"delta_pp": seeds["score"], "delta_p_seeds": seeds["p"]}
    if pv is None or pb is None:
        return out | {"delta_ci_lo_pp": NAN, "delta_ci_hi_pp": NAN, "delta_p_value": NAN}
    t = two_way_delta(_side(pv), _side(pb))
    return out | {"delta_ci_lo_pp": t["ci_lo"], "delta_ci_hi_pp": t["ci_hi"], "delta_p_value": t["p"]}


def _table1_row(v: dict, base: dict, first: bool) -> dict:
    u = v["utility"]
    note = "baseline" if first else ""
    row = {"dataset": v["dataset"], "arch": v["arch"], "variant": v["variant"]}
    if not _usable(u):
        empty = dict.fromkeys(TABLE1_COLUMNS[4:-4], NAN)
        reason = v.get("reason", "") or "no utility runs"
        return (
            row
            | {"evaluation_only": False}
            | empty
            | {"seeds": 0, "n_test": pd.NA, "n_removed": 0}
            | {"note": _join(note, reason)}
        )
    s = score_columns(v.get("points"), u["diff_pp"].to_numpy(float))
    only = evaluation_only(v, base)
    if not _usable(base["utility"]):
        d = dict.fromkeys(
            ("delta_pp", "delta_p_seeds", "delta_ci_lo_pp", "delta_ci_hi_pp", "delta_p_value"), NAN
        )
        note = _join(note, "baseline has no memorized points: no Δ")
    else:
        d = _delta(v, base, only)
    missing = NO_POINTS if v.get("points") is None else ""
    return row | {
        "evaluation_only": only,
        "score_pp": s["score"],
        "std_pp": s["std"],
        "p_seeds": s["p_seeds"],
        "ci_lo_pp": s["ci_lo"],
        "ci_hi_pp": s["ci_hi"],
        "p_value": s["p"],
        **d,
        "seeds": s["n"],
        "n_test": s["n_test"],
        "n_removed": _n_removed(u, f"{v['dataset']}/{v['arch']} {v['variant']}"),
        "note": _join(note, EVALUATION_ONLY if only else "", missing, _few_seeds(s["n"])),
    }


def table1(variants: list[dict]) -> pd.DataFrame:
    """Ablation table: Score (pp, ± std over seeds; p over seeds and the test-aware interval and p) per
    variant, against the paper's uniform random control, and Δ against the baseline.

    Each dict: dataset, arch, variant, utility (utility_frame() table or None when the memorized set
    is empty), points (read_points() outcomes, or None: no test-aware columns), reason (why it is empty, ""
    otherwise). The first variant of each (dataset, arch), in list order, is its baseline; its own Δ is 0
    by construction (p 1). Δ is paired by seed (delta_p_seeds: paired t-test; delta_p_value: test-aware), or,
    for an evaluation-only variant (evaluation_only: the baseline's runs on a subset of its test points), a
    test over test points alone (memgen.utility.stats.dropped_points_test) with no seed test and no interval.
    """
    order: list[tuple] = []
    groups: dict[tuple, list[dict]] = {}
    for v in variants:
        key = (v["dataset"], v["arch"])
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(v)
    rows = [_table1_row(v, groups[k][0], i == 0) for k in order for i, v in enumerate(groups[k])]
    df = pd.DataFrame(rows, columns=list(TABLE1_COLUMNS))
    df["n_test"] = df["n_test"].astype("Int64")
    return df


# ---- Table 3 -----------------------------------------------------------------------------------------------
def _table3_rows(r: dict) -> list[dict]:
    u, points = r["utility"], r.get("points")
    row = {"dataset": r["dataset"], "arch": r["arch"]}
    test_sets = u["test_set"].unique()
    if len(test_sets) != 1:
        raise fail(
            f"utility table of {r['dataset']}/{r['arch']} mixes test sets {list(test_sets)}",
            "build one utility table per test set",
        )
    out = []
    for control, (_, acc, diff) in CONTROLS.items():
        if acc not in u.columns or u[acc].isna().all():
            continue  # a utility table without this control's runs
        s = score_columns(points, u[diff].to_numpy(float), control)
        out.append(
            row
            | {"control": control, "test_set": str(test_sets[0])}
            | {
                "acc_memorized_removed": float(u["acc_memorized"].mean()),
                "acc_control_removed": float(u[acc].mean()),
            }
            | {"diff_pp": s["score"], "std_pp": s["std"], "p_seeds": s["p_seeds"]}
            | {"ci_lo_pp": s["ci_lo"], "ci_hi_pp": s["ci_hi"], "p_value": s["p"]}
            | {"significant_0.05": pd.NA if np.isnan(s["p"]) else bool(s["p"] < 0.05), "seeds": s["n"]}
            | {"n_test": s["n_test"], "n_removed": _n_removed(u, f"{r['dataset']}/{r['arch']}")}
            | {"note": _join(NO_POINTS if points is None else "", _few_seeds(s["n"]))}
        )
    return out


def table3(rows: list[dict]) -> pd.DataFrame:
    """Utility per dataset × arch, one row per control (`control`: "random", the paper's uniform draw, then
    "class_matched", as many random points of each class as the memorized set holds): mean accuracy (%)
    after memorized vs the control's removal, difference (pp, ± std over seeds), its seed-only p (p_seeds),
    test-aware 95 % interval and p (p_value; NaN without per-test-point outcomes), and whether that p < 0.05
    (NA when p is undefined).

    Each dict: dataset, arch, utility (utility_frame() table or None), points (read_points() outcomes or
    None), reason; test_set is taken from the utility table, or from the dict when the table is None (then
    one row per control, without numbers).
    """
    out = []
    for r in rows:
        if _usable(r["utility"]):
            out += _table3_rows(r)
            continue
        for control in CONTROLS:
            empty = dict.fromkeys(TABLE3_COLUMNS[4:], NAN) | {"significant_0.05": pd.NA, "seeds": 0}
            out.append(
                {"dataset": r["dataset"], "arch": r["arch"], "control": control}
                | empty
                | {"test_set": r.get("test_set", ""), "n_test": pd.NA, "n_removed": 0}
                | {"note": r.get("reason", "") or "no utility runs"}
            )
    df = pd.DataFrame(out, columns=list(TABLE3_COLUMNS))
    df["significant_0.05"] = df["significant_0.05"].astype("boolean")
    df["n_test"] = df["n_test"].astype("Int64")
    return df


# ---- Table 3 per class -------------------------------------------------------------------------------------
CLASS_COLUMNS = (
    "class",
    "class_name",
    "n_test",
    "removed_memorized",
    "removed_random",
    "removed_class_matched",
    "acc_memorized_removed",
    "acc_random_removed",
    "acc_class_matched_removed",
    "diff_random_pp",
    "ci_lo_random_pp",
    "ci_hi_random_pp",
    "p_random",
    "diff_class_matched_pp",
    "ci_lo_class_matched_pp",
    "ci_hi_class_matched_pp",
    "p_class_matched",
    "seeds",
    "note",
)


def _class_row(points: dict, cols: np.ndarray) -> dict:
    """Accuracies (%) after each removal on the test points `cols`, and memorized − each control (pp) with its
    test-aware interval and p (two_way_test over seeds and these points); a control without runs (the
    class-matched one outside Table 3's removal set) is left empty (NaN)."""
    correct = points["correct"]
    row = {"acc_memorized_removed": 100.0 * float(correct["memorized"][:, cols].mean())}
    for control, (condition, _, _) in CONTROLS.items():
        if condition not in correct:
            continue
        t = two_way_test(control_diff(points, control)[:, cols])
        row[f"acc_{control}_removed"] = 100.0 * float(correct[condition][:, cols].mean())
        row |= {f"diff_{control}_pp": t["score"], f"ci_lo_{control}_pp": t["ci_lo"]}
        row |= {f"ci_hi_{control}_pp": t["ci_hi"], f"p_{control}": t["p"]}
    return row


def class_table(
    points: dict | None, removed: dict, names: list[str], test_labels=None, reason: str = ""
) -> pd.DataFrame:
    """Table 3 per class of the test points it uses (CLASS_COLUMNS): test points, training points each
    condition removes of the class (`removed`: memorized, random, class_matched -> float [C], the random
    ones averaged over seeds), accuracy after each removal and memorized − each control.

    Per-class p-values are not adjusted for the number of classes. points None (an empty memorized set):
    one row per class of `test_labels` without numbers, `reason` in the note.
    """
    labels = np.asarray(points["labels"] if points is not None else test_labels, dtype=np.int64)
    keep = points["keep"] if points is not None else np.ones(len(labels), dtype=bool)
    rows = []
    for c in np.unique(labels[keep]):
        cols = keep & (labels == c)
        row = {
            "class": int(c),
            "class_name": names[c] if c < len(names) else str(c),
            "n_test": int(cols.sum()),
        }
        row |= {f"removed_{k}": float(v[c]) if c < len(v) else 0.0 for k, v in removed.items()}
        if points is None:
            rows.append(row | {"seeds": 0, "note": reason or "no utility runs"})
            continue
        rows.append(row | _class_row(points, cols) | {"seeds": len(points["seed"]), "note": ""})
    return pd.DataFrame(rows, columns=list(CLASS_COLUMNS))
