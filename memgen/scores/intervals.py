"""Per-point confidence intervals of acc_in, acc_out, fz (Eq. 1) and frac (Eq. 2).

Method: acc_in is hits_in of n_in members that trained on the point, each right or wrong on it; acc_out
likewise over the n_out members that held it out. Members are independent draws of a random subset and a
seed, so each count is binomial, and each accuracy gets a Wilson score interval (no normal approximation
at 0 or 1, where most points sit; never outside [0, 1]). Both are taken at level 1 - alpha/2 (Bonferroni),
so that acc_in and acc_out lie in their intervals jointly with probability >= 1 - alpha = `level`. fz and
frac are monotone in each argument (increasing in acc_in, decreasing in acc_out), so over that rectangle
their range is [f(in_lo, out_hi), f(in_hi, out_lo)]: fz and frac intervals at level >= `level`.
Wilson, not Clopper-Pearson: narrower at few held-out members, at coverage near nominal (docs/decisions.md:
Wilson intervals).

Vectorised over points: O(N) float64 arrays, no K x N temporary (benchmarks/intervals_scale.py).
"""

import math

import numpy as np
from scipy.special import ndtri

from memgen.errors import fail

# columns of scores.csv, in this order, after the point estimates
INTERVAL_COLUMNS = (
    "acc_in_lo",
    "acc_in_hi",
    "acc_out_lo",
    "acc_out_hi",
    "fz_lo",
    "fz_hi",
    "frac_lo",
    "frac_hi",
)
# definitions with an interval (conf and LiRA have none: memgen.scores.thresholds uses their point estimate)
INTERVAL_DEFINITIONS = ("fz", "frac")
# scores.csv's level is fixed, not a config key (docs/decisions.md: Fixed interval level); the planner and the
# functions here take other levels as arguments.
DEFAULT_LEVEL = 0.95


def check_level(level) -> float:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
        raise fail(
            f"interval level {level!r} is not a number strictly between 0 and 1",
            "pass a level such as 0.95",
        )
    return float(level)


def z_value(level: float) -> float:
    """The normal quantile of each two-sided Wilson interval: level 1 - alpha/2 each (Bonferroni over acc_in
    and acc_out), i.e. z = Phi^-1(1 - alpha/4) with alpha = 1 - level (2.24 at level 0.95)."""
    return float(ndtri(1.0 - (1.0 - check_level(level)) / 4.0))


def wilson(hits, n, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of hits/n at normal quantile z, element-wise; NaN where n == 0.
    0 hits gives a lower end of exactly 0, n hits an upper end of exactly 1."""
    hits = np.asarray(hits, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hits / n
        z2n = z * z / n
        centre = (p + z2n / 2.0) / (1.0 + z2n)
        half = z / (1.0 + z2n) * np.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    lo = np.where(hits <= 0, 0.0, np.clip(centre - half, 0.0, 1.0))
    hi = np.where(hits >= n, 1.0, np.clip(centre + half, 0.0, 1.0))
    empty = ~(n > 0)
    return np.where(empty, np.nan, lo), np.where(empty, np.nan, hi)


def frac_of(a, b) -> np.ndarray:
    """Eq. 2 from acc_in a and acc_out b, with memgen.scores.compute' convention: 0/0 (never right, in or out)
    scores 0; NaN stays NaN."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    total = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            total > 0, (a - b) / np.where(total > 0, total, 1.0), np.where(np.isnan(total), np.nan, 0.0)
        )


def bounds(hits_in, n_in, hits_out, n_out, level: float = DEFAULT_LEVEL) -> dict[str, np.ndarray]:
    """The eight interval columns (INTERVAL_COLUMNS) from the member counts, arrays [N]."""
    z = z_value(level)
    in_lo, in_hi = wilson(hits_in, n_in, z)
    out_lo, out_hi = wilson(hits_out, n_out, z)
    cols = {
        "acc_in_lo": in_lo,
        "acc_in_hi": in_hi,
        "acc_out_lo": out_lo,
        "acc_out_hi": out_hi,
        "fz_lo": in_lo - out_hi,
        "fz_hi": in_hi - out_lo,
        "frac_lo": frac_of(in_lo, out_hi),
        "frac_hi": frac_of(in_hi, out_lo),
    }
    # the same float-noise rounding as the point estimates (memgen.scores.compute), so a bound equal to τ on
    # paper is
    return {k: np.round(v, 12) for k, v in cols.items()}


def interval_columns(scores: dict, level: float = DEFAULT_LEVEL) -> dict[str, np.ndarray]:
    """Interval columns from memgen.scores.compute.compute_scores' output (n_in, n_out, acc_in, acc_out): the
    hit
    counts are acc * n, exact integers up to float rounding."""
    n_in, n_out = np.asarray(scores["n_in"]), np.asarray(scores["n_out"])
    hits_in = np.rint(np.nan_to_num(np.asarray(scores["acc_in"], dtype=np.float64)) * n_in)
    hits_out = np.rint(np.nan_to_num(np.asarray(scores["acc_out"], dtype=np.float64)) * n_out)
    return bounds(hits_in, n_in, hits_out, n_out, level)


def mean_width(lo, hi) -> float:
    """Mean of hi - lo over the points where both are defined (NaN when none is)."""
    w = np.asarray(hi, dtype=np.float64) - np.asarray(lo, dtype=np.float64)
    w = w[~np.isnan(w)]
    return float(w.mean()) if w.size else math.nan


def ranked_intervals(scores, definition: str, rows: np.ndarray):
    """The points `rows` (bool [N]) selects of a score table, as columns score, lo, hi of `definition`,
    highest score first; ties (many at rate 0.95: counts of 12 held-out members) by their interval's lower
    end, so Fig. 12's band shows which of them the interval option keeps."""
    df = scores.loc[rows, [definition, f"{definition}_lo", f"{definition}_hi"]].copy()
    df.columns = ["score", "lo", "hi"]
    return df.sort_values(["score", "lo"], ascending=False, kind="stable").reset_index(drop=True)
