"""Statistics of the utility study: paired Score and its t-test, the ablation Δ, seed curves (Fig. 11).

Score = mean over seeds of (acc after memorized removal − acc after random removal), in percentage
points; p = two-sided paired t-test (scipy.stats.ttest_rel). Δ = variant Score − baseline Score;
its p is a two-sided Welch t-test on the two sets of per-seed differences (docs/decisions.md: Welch's test
for the ablation's Δ).
"""

import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from memgen.errors import fail

NAN = float("nan")


# Accuracies differ in steps of 1/n_test (>= 1e-6 as a fraction, 1e-4 pp, for any test set under a
# million points); spreads and means below TOL are float noise (83.86 - 83.80 is not exact), which
# scipy would otherwise turn into t ~ 1e15 and p ~ 0.
TOL = 1e-9


def _constant(x: np.ndarray) -> bool:
    return x.size > 0 and float(np.ptp(x)) <= TOL


def _zero_variance_test(mean: float) -> tuple[float, float]:
    # All differences equal: no difference on any seed is p = 1; the same nonzero difference on every
    # seed is the t-test's limit (t = ±inf, p = 0), which scipy also returns for exact zero variance.
    if abs(mean) <= TOL:
        return 0.0, 1.0
    return math.copysign(math.inf, mean), 0.0


def paired_score(first, second=None) -> dict:
    """Score of one condition pair.

    paired_score(diff_pp): per-seed differences in percentage points; or
    paired_score(acc_memorized, acc_random): per-seed accuracies (same unit, same seed order).
    Returns dict score (mean difference), std (sample std, ddof=1), n, t, p (two-sided paired t-test).
    n < 2 gives NaN std, t and p; equal differences on every seed are handled as in _zero_variance_test.
    """
    d = np.asarray(first, dtype=float).ravel()
    if second is not None:
        b = np.asarray(second, dtype=float).ravel()
        if d.shape != b.shape:
            raise fail(f"paired samples differ in length ({d.size} vs {b.size})", "pair them by seed first")
        d = d - b
    n = int(d.size)
    if n == 0:
        return {"score": NAN, "std": NAN, "n": 0, "t": NAN, "p": NAN}
    score = float(d.mean())
    if n < 2:
        return {"score": score, "std": NAN, "n": n, "t": NAN, "p": NAN}
    if _constant(d):
        t, p = _zero_variance_test(score)
        return {"score": score, "std": 0.0, "n": n, "t": t, "p": p}
    res = sps.ttest_rel(d, np.zeros_like(d))  # the paired test is a test of the differences against 0
    return {
        "score": score,
        "std": float(d.std(ddof=1)),
        "n": n,
        "t": float(res.statistic),
        "p": float(res.pvalue),
    }


def ablation_delta(diff_variant, diff_baseline) -> dict:
    """Δ = mean(variant differences) − mean(baseline differences), p = two-sided Welch t-test.

    NaN p when either side has fewer than 2 seeds; when both sides have zero variance the Welch
    statistic is 0/0 or x/0 and is handled as in _zero_variance_test.
    """
    v = np.asarray(diff_variant, dtype=float).ravel()
    b = np.asarray(diff_baseline, dtype=float).ravel()
    if v.size == 0 or b.size == 0:
        return {"delta": NAN, "p": NAN}
    delta = float(v.mean() - b.mean())
    if v.size < 2 or b.size < 2:
        return {"delta": delta, "p": NAN}
    if _constant(v) and _constant(b):
        same = abs(delta) <= TOL
        return {"delta": 0.0 if same else delta, "p": 1.0 if same else 0.0}
    return {"delta": delta, "p": float(sps.ttest_ind(v, b, equal_var=False).pvalue)}


def seed_curve(df_utility: pd.DataFrame, sizes) -> pd.DataFrame:
    """Score and p when only the first n seeds (lowest seed numbers) are used, for each n in sizes.

    Returns DataFrame n_seeds, score, std, p (Fig. 11: how many utility seeds the conclusion needs).
    """
    if "seed" not in df_utility.columns or "diff_pp" not in df_utility.columns:
        raise fail("utility table lacks 'seed'/'diff_pp' columns", "pass a table made by utility_frame()")
    d = df_utility.sort_values("seed")["diff_pp"].to_numpy(dtype=float)
    rows = []
    for n in sizes:
        n = int(n)
        if n < 1 or n > d.size:
            raise fail(
                f"seed curve asks for {n} seeds but the utility table has {d.size}",
                f"use sizes between 1 and {d.size}, or run more utility seeds",
            )
        s = paired_score(d[:n])
        rows.append({"n_seeds": n, "score": s["score"], "std": s["std"], "p": s["p"]})
    return pd.DataFrame(rows, columns=["n_seeds", "score", "std", "p"])
