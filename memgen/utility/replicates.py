"""The answer across replicates: Tables 1 and 3 get a combined row per dataset × arch (and variant).

The replicate is the unit: each replicate gives one difference (its mean over seeds), and the combined row
is their mean, their between-replicate standard deviation and a one-sample t-test of the R differences
against 0 (df = R − 1). Each replicate's mean already carries its seeds' noise, so the test counts both the
seeds' and the draw's variation without modelling either (docs/decisions.md: Replicates as the unit).
"holds" counts the replicates whose own conclusion (hurts, helps, or no significant difference at 0.05)
equals the combined one.

The replicates share one test set (and one duplicate list), so the combined p and interval are conditional on
the test set: test-point sampling moves every replicate alike and is not in the between-replicate spread
(each replicate's own row has the test-aware p). An evaluation-only variant's Δ (the baseline's runs on fewer
test points) gets no t-test over replicates: it would repeat the baseline's (docs/decisions.md).
"""

import math

import numpy as np
from scipy import stats as sps

from memgen.utility.stats import LEVEL, paired_score

ALPHA = 0.05
COMBINED = "combined"  # the `replicate` value of a combined row


def conclusion(diff: float, p: float, alpha: float = ALPHA) -> str:
    """What a difference says: "hurts" (removing memorized points lowers accuracy, p < alpha), "helps",
    "no significant difference", or "undefined" (no difference or no p)."""
    if diff is None or p is None or math.isnan(diff) or math.isnan(p):
        return "undefined"
    if p >= alpha:
        return "no significant difference"
    return "hurts" if diff < 0 else "helps"


def across(diffs, ps) -> dict:
    """The combined difference of per-replicate differences `diffs` (pp) with per-replicate p-values `ps`:
    mean, std (between replicates, ddof 1), t, p (one-sample t-test over replicates), its interval ci_lo,
    ci_hi (LEVEL), n (defined replicates),
    holds ("k of n": replicates whose conclusion equals the combined one), and disagree (the replicates
    differ in sign or in significance)."""
    d, p = np.asarray(diffs, dtype=float), np.asarray(ps, dtype=float)
    ok = ~np.isnan(d)
    s = paired_score(d[ok])
    combined = conclusion(s["score"], s["p"])
    each = [conclusion(x, q) for x, q in zip(d[ok], p[ok], strict=True)]
    signs = {np.sign(x) for x in d[ok] if x != 0}
    half = (
        float(sps.t.ppf(0.5 + LEVEL / 2, s["n"] - 1)) * s["std"] / math.sqrt(s["n"])
        if s["n"] > 1
        else float("nan")
    )
    return {
        "ci_lo": s["score"] - half,
        "ci_hi": s["score"] + half,
        "score": s["score"],
        "std": s["std"],
        "t": s["t"],
        "p": s["p"],
        "n": s["n"],
        "holds": f"{sum(c == combined for c in each)} of {s['n']}",
        "disagree": len(signs) > 1 or len(set(each)) > 1,
        "conclusions": each,
    }


def _mean(values) -> float:
    v = np.asarray(values, dtype=float)
    return float(np.nanmean(v)) if (~np.isnan(v)).any() else float("nan")


def _note(group, result: dict) -> str:
    sizes = "/".join("n/a" if math.isnan(float(x)) else str(int(x)) for x in group["n_removed"])
    words = f"{len(group)} replicates (the test's unit, the test set fixed); points removed {sizes}"
    if result["n"] < len(group):
        words += f"; {len(group) - result['n']} replicate(s) without a difference left out"
    return words + ("; replicates disagree" if result["disagree"] else "")


def _combined(df, keys: list[str], fields):
    """One combined row per group `keys` of rows with more than one replicate (columns as df, the group's
    first row's values where not combined): fields(g) -> (across() of the row's own difference, the columns
    it combines), plus replicate "combined", n_removed's mean, holds and the note."""
    import pandas as pd

    rows = []
    for _, g in df.groupby(keys, sort=False):
        if len(g) < 2:
            continue
        r, combined = fields(g)
        extra = combined.pop("_note", "")
        common = {
            "replicate": COMBINED,
            "n_removed": _mean(g["n_removed"]),
            "holds": r["holds"],
            "note": _note(g, r) + (f"; {extra}" if extra else ""),
        }
        rows.append(dict(g.iloc[0]) | combined | common)
    return pd.DataFrame(rows, columns=df.columns)


def table3_combined(df):
    """One combined row per (dataset, arch, control) of Table 3 rows with more than one replicate (columns as
    df, `replicate` = "combined"): accuracies and the difference averaged over replicates, std_pp between
    replicates, p_value and ci the t-test over replicates (conditional on the shared test set), p_seeds empty,
    seeds per replicate, holds."""
    import pandas as pd

    def fields(g):
        r = across(g["diff_pp"], g["p_value"])
        return r, {
            "acc_memorized_removed": _mean(g["acc_memorized_removed"]),
            "acc_control_removed": _mean(g["acc_control_removed"]),
            "diff_pp": r["score"],
            "std_pp": r["std"],
            "p_seeds": float("nan"),
            "ci_lo_pp": r["ci_lo"],
            "ci_hi_pp": r["ci_hi"],
            "p_value": r["p"],
            "significant_0.05": pd.NA if math.isnan(r["p"]) else bool(r["p"] < ALPHA),
        }

    return _combined(df, ["dataset", "arch", "control"], fields)


def table1_combined(df):
    """One combined row per (dataset, arch, variant) of Table 1 rows with more than one replicate: score and
    Δ averaged over replicates (Δ = variant − baseline within each replicate, so paired by replicate),
    std_pp between replicates, p_value, delta_p_value and their intervals t-tests over replicates
    (conditional on the shared test set; p_seeds, delta_p_seeds empty), holds. An evaluation-only variant's
    Δ keeps its mean only: no t-test over replicates."""
    nan = float("nan")

    def fields(g):
        r = across(g["score_pp"], g["p_value"])
        delta = across(g["delta_pp"], g["delta_p_value"])
        only = g["evaluation_only"].astype(str).str.lower().eq("true").any()
        if only:
            delta |= {"p": nan, "ci_lo": nan, "ci_hi": nan}
        return r, {
            "_note": "evaluation-only Δ: no t-test over replicates (each replicate's is over test points)"
            if only
            else "",
            "score_pp": r["score"],
            "std_pp": r["std"],
            "p_seeds": nan,
            "ci_lo_pp": r["ci_lo"],
            "ci_hi_pp": r["ci_hi"],
            "p_value": r["p"],
            "delta_pp": delta["score"],
            "delta_p_seeds": nan,
            "delta_ci_lo_pp": delta["ci_lo"],
            "delta_ci_hi_pp": delta["ci_hi"],
            "delta_p_value": delta["p"],
        }

    return _combined(df, ["dataset", "arch", "variant"], fields)
