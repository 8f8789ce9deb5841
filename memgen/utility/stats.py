"""Statistics of the utility study: Score and its tests, the ablation's Δ, seed curves (Fig. 11).

Score = mean over seeds and test points of (correct after memorized removal − correct after control removal),
in percentage points (= the mean over seeds of the per-seed accuracy difference). Two tests of it:

- seed-only (`p_seeds`, paired_score): the paired t-test over seeds (scipy.stats.ttest_rel). It holds the
  test set fixed: its p is about these test points only.
- test-aware (`p`, `ci_lo`, `ci_hi`: two_way_test, two_way_delta): seeds AND test points are random draws, the
  per-(seed, point) outcome d_sj = μ + a_s + b_j + e_sj a crossed two-way random-effects model. Var(Score) is
  estimated without bias by moments, (MS_seeds + MS_points − MS_residual) / (M n) for one test set, the
  general form (A + B − R below) for Δs, never below the seed-only variance; the interval and p use a t
  reference with Satterthwaite's df, and the test-aware p is never reported below the seed-only p
  (docs/decisions.md: Test-aware p over seeds and test points).

Δ (Table 1) = variant Score − baseline Score. Variant and baseline share utility seed ids, so its seed-only
test is paired (ttest_rel on per-seed differences). A variant that reuses the baseline's runs and only drops
test points (evaluation-only, e.g. dedup) is tested over test points instead (dropped_points_test): a seed
test of its Δ is the baseline's own test rescaled.
"""

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats as sps

from memgen.errors import fail

NAN = float("nan")
LEVEL = 0.95  # the two-sided intervals' level
N_PERM = 4000  # random subsets of a permutation test, where exact enumeration is too long
EXACT_MAX = 100_000  # enumerate every subset up to this many (digits' 2 of 360 dropped points: 64,620)


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
    """Score of one condition pair over seeds alone (the test set fixed).

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


# ---- test-aware: seeds x test points -----------------------------------------------------------------------
def _matrix(first, second=None) -> np.ndarray:
    d = np.asarray(first, dtype=float)
    if second is not None:
        b = np.asarray(second, dtype=float)
        if d.shape != b.shape:
            raise fail(
                f"paired outcome matrices differ in shape ({d.shape} vs {b.shape})",
                "pass both conditions' [seeds, test points] outcomes, same seeds and test points",
            )
        d = d - b
    if d.ndim != 2:
        raise fail(f"outcomes have shape {d.shape}, expected [seeds, test points]", "pass a 2-D array")
    return d


def _components(blocks: list[np.ndarray]) -> dict:
    """Moment estimates of Var(Σ_k mean_k) for blocks [M, n_k] sharing seeds (rows), test points drawn
    independently per block: A (seeds: the per-seed statistic's variance / M), B (points: each block's
    per-point means' variance / n_k, summed) and R (the residual both count once: R = (M·C − B)/(M − 1) with C
    the per-seed point variances' mean / M); Var = A + B − R. For one block this is the two-way ANOVA's
    (MS_seeds + MS_points − MS_residual) / (M n). df_*: each estimate's degrees of freedom."""
    m = blocks[0].shape[0]
    g = sum(b.mean(axis=1) for b in blocks)
    a = float(g.var(ddof=1)) / m
    b_k = [float(b.mean(axis=0).var(ddof=1)) / b.shape[1] for b in blocks]
    c = sum(float(b.var(axis=1, ddof=1).sum()) / b.shape[1] for b in blocks) / m**2
    r = (m * c - sum(b_k)) / (m - 1)
    df_b = [b.shape[1] - 1 for b in blocks]
    return {"A": a, "B": b_k, "R": r, "df_A": m - 1, "df_B": df_b, "df_R": (m - 1) * sum(df_b)}


def _variance(c: dict) -> tuple[float, float]:
    """Var = A + B − R and its Satterthwaite df; where it falls below the seed-only variance A (which it
    exceeds in expectation), A with df M − 1: a test-aware interval is never narrower than the seed-only."""
    a, b, r = c["A"], sum(c["B"]), c["R"]
    v = a + b - r
    if v <= a:
        return a, float(c["df_A"])
    parts = [(a, c["df_A"]), *zip(c["B"], c["df_B"], strict=True), (r, c["df_R"])]
    return v, v * v / sum(x * x / d for x, d in parts)


def _empty(score: float) -> dict:
    return {"score": score, "se": NAN, "df": NAN, "t": NAN, "p": NAN, "ci_lo": NAN, "ci_hi": NAN}


def _t_test(score: float, v: float, df: float, level: float) -> dict:
    """Two-sided t-test of score against 0 with variance v (pp²) and df, and its interval."""
    if v <= TOL * TOL:
        t, p = _zero_variance_test(score)
        return {"score": score, "se": 0.0, "df": df, "t": t, "p": p, "ci_lo": score, "ci_hi": score}
    se = math.sqrt(v)
    q = float(sps.t.ppf(0.5 + level / 2, df))
    t = score / se
    p = float(2 * sps.t.sf(abs(t), df))
    return {
        "score": score,
        "se": se,
        "df": df,
        "t": t,
        "p": p,
        "ci_lo": score - q * se,
        "ci_hi": score + q * se,
    }


def _test(blocks: list[np.ndarray], level: float = LEVEL) -> dict:
    """Test-aware score (pp) of Σ_k mean over block k, with the seed-only test of the per-seed statistic."""
    m, n = blocks[0].shape[0], min(b.shape[1] for b in blocks)
    per_seed = 100.0 * sum(b.mean(axis=1) for b in blocks) if m and n else np.zeros(0)
    seeds = paired_score(per_seed)
    out = {"n_seeds": m, "n_test": sum(b.shape[1] for b in blocks)}
    out |= {"std": seeds["std"], "p_seeds": seeds["p"], "t_seeds": seeds["t"]}
    if m == 0 or n == 0:
        return out | _empty(NAN)
    score = float(per_seed.mean())
    if m < 2 or n < 2:
        return out | _empty(score)
    v, df = _variance(_components(blocks))
    test = _t_test(score, 1e4 * v, df, level)  # fractions² -> pp²
    # Satterthwaite's df (up to the points' n − 1) could still put p below the seed-only p, a test with one
    # source of variance fewer: then the seed-only test stands (docs/decisions.md)
    if not math.isnan(seeds["p"]) and test["p"] < seeds["p"]:
        test = _t_test(score, 1e4 * _components(blocks)["A"], m - 1, level)
    return out | test


def two_way_test(first, second=None, level: float = LEVEL) -> dict:
    """Test-aware Score of per-seed, per-test-point outcomes: seeds and test points both random.

    two_way_test(diff): diff [M, n], per (seed, test point) differences as fractions (e.g. correct after
    memorized removal − correct after the control's, each 0/1); or
    two_way_test(correct_a, correct_b): the two [M, n] outcome matrices (bool or 0/1), the same seeds in rows
    (seed s of one paired with seed s of the other) and the same test points in columns.

    Returns (pp where a difference): score (mean difference), se, df (Satterthwaite's), t, p (two-sided,
    test-aware), ci_lo, ci_hi (level, default 95 %); and the seed-only test of the per-seed means, std
    (between seeds) and p_seeds, t_seeds (= paired_score of the per-seed differences); n_seeds, n_test.
    Fewer than 2 seeds or test points: NaN se, p and interval.
    """
    return _test([_matrix(first, second)], level)


def _linearized(d: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """[M, n] values whose mean is the score on the points `keep` and whose spread over points is the ratio
    estimator's (delta method): a point-resample also changes how many kept points there are."""
    keep = np.asarray(keep, dtype=bool)
    if not keep.any():
        raise fail("a utility score over no test point", "check the test subset: it keeps none")
    sub = d[:, keep]
    s = float(sub.mean())
    z = np.full(d.shape, s)
    z[:, keep] += (d.shape[1] / keep.sum()) * (sub - s)
    return z


def two_way_delta(variant: dict, baseline: dict, level: float = LEVEL) -> dict:
    """Test-aware Δ = Score(variant) − Score(baseline), paired by seed (shared seed ids).

    Each side: {"diff": [M, n] per-point differences (fractions) over its whole test array, "keep": bool [n]
    (the points its score uses), "points": the test array's name ("original" for original and dedup)}.
    On the same test array the per-point pair is kept (the delta method linearises a subset's score);
    on different arrays (a new test set) their points are independent draws. Returns as two_way_test.
    """
    dv, db = _matrix(variant["diff"]), _matrix(baseline["diff"])
    if dv.shape[0] != db.shape[0]:
        raise fail(
            f"variant and baseline have {dv.shape[0]} and {db.shape[0]} utility seeds",
            "run both with the same utility.seeds",
        )
    kv, kb = (np.asarray(x["keep"], dtype=bool) for x in (variant, baseline))
    if variant["points"] == baseline["points"] and dv.shape == db.shape:
        union = kv | kb
        z = _linearized(dv[:, union], kv[union]) - _linearized(db[:, union], kb[union])
        return _test([z], level)
    return _test([dv[:, kv], -db[:, kb]], level)


# ---- evaluation-only Δ: over test points -------------------------------------------------------------------
def _subset_sums(v: np.ndarray, size: int, n_perm: int, seed) -> tuple[np.ndarray, bool]:
    """Sums of v over every subset of `size` points (exact) or over n_perm random ones; and whether exact."""
    if math.comb(len(v), size) <= EXACT_MAX:
        idx = np.array(list(itertools.combinations(range(len(v)), size)), dtype=np.int64)
        return v[idx.reshape(-1, size)].sum(axis=1), True
    rng = np.random.default_rng(seed)
    return np.array([v[rng.choice(len(v), size, replace=False)].sum() for _ in range(n_perm)]), False


def dropped_points_test(diff, keep, n_perm: int = N_PERM, seed=0) -> dict:
    """Δ of an evaluation-only variant: its score on the kept test points minus the score on all of them,
    from the same runs (diff [M, n] fractions, keep bool [n]); Δ = (k/n)·(mean kept − mean dropped) per point.

    Test over test points, conditional on the runs: are the k dropped points different from the rest? Its
    null draws k of the n points at random (exact: every subset where there are at most EXACT_MAX, otherwise
    n_perm seeded draws, p = (1 + hits)/(n_perm + 1)); two-sided on |Δ|. Returns delta (pp), p, n_dropped,
    exact. No seed test: over seeds, Δ is the baseline's per-seed differences rescaled (k/(n − k)), and
    its p is the baseline's."""
    d = _matrix(diff)
    keep = np.asarray(keep, dtype=bool)
    n, k = keep.size, int((~keep).sum())
    if k == n:
        raise fail("an evaluation-only variant drops every test point", "check the duplicate list")
    v = d.mean(axis=0)
    total = float(v.sum())
    observed = float(v[~keep].sum())
    delta = 100.0 * ((total - observed) / (n - k) - total / n)
    if k == 0:
        return {"delta": 0.0, "p": 1.0, "n_dropped": 0, "exact": True}
    size = min(k, n - k)
    sums, exact = _subset_sums(v, size, n_perm, seed)
    if size != k:  # drew the kept side: the dropped sum is the rest
        sums = total - sums
    centre = k * total / n  # the dropped sum's mean under the null
    hits = int((np.abs(sums - centre) >= abs(observed - centre) - TOL).sum())
    p = hits / len(sums) if exact else (1 + hits) / (n_perm + 1)
    return {"delta": delta, "p": min(1.0, p), "n_dropped": k, "exact": exact}


def seed_curve(df_utility: pd.DataFrame, sizes) -> pd.DataFrame:
    """Score and p when only the first n seeds (lowest seed numbers) are used, for each n in sizes.

    Returns DataFrame n_seeds, score, std, p (Fig. 11: how many utility seeds the conclusion needs; seed-only
    p, the test set fixed).
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
