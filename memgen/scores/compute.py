"""Per-point memorization scores from an ensemble's masks, correctness and label confidence.

fz (Eq. 1) and frac (Eq. 2) count correct members; conf and lira (beyond the paper) read the
members' label log-odds log(p / (1 - p)) of the label's softmax probability p (memgen.ensemble.outputs).
"""

import numpy as np
import pandas as pd
from scipy.special import expit

from memgen.scores.intervals import DEFAULT_LEVEL, interval_columns

DEFINITIONS = ("fz", "frac", "conf", "lira")
CONFIDENCE_DEFINITIONS = ("conf", "lira")  # those read from the members' log-odds (NaN without them)
# LiRA (Carlini et al. 2022, Sec. VI-A): below 64 shadow models, i.e. 32 per side, one variance pooled over
# all points ("fixed variance") beats each point's own; so a side with fewer members uses the pooled one.
LIRA_PER_POINT_MIN = 32
# Variance floor (log-odds units squared): float16 log-odds of saturated members can be all equal.
LIRA_VAR_FLOOR = 1e-4


_CHUNK = 8192  # points per block of the log-odds statistics: float64 K x 8192 stays small at any K


def _side_moments(mask: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased variance over the members `mask` selects, per point (NaN where < 1 / < 2)."""
    n = mask.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, z, 0.0).sum(0) / np.where(n > 0, n, np.nan)
        sq = np.where(mask, (z - np.nan_to_num(mean)) ** 2, 0.0).sum(0)
        var = sq / np.where(n > 1, n - 1, np.nan)
    return mean, var


def confidence_stats(mask: np.ndarray, log_odds: np.ndarray) -> dict[str, np.ndarray]:
    """Per point [N]: mean label probability in / out (p_in, p_out), and the log-odds' mean and variance
    in / out (mu_in, var_in, mu_out, var_out), block by block of points."""
    keys = ("p_in", "p_out", "mu_in", "var_in", "mu_out", "var_out")
    out = {k: np.empty(mask.shape[1]) for k in keys}
    for lo in range(0, mask.shape[1], _CHUNK):
        j = slice(lo, lo + _CHUNK)
        m, z = mask[:, j], np.asarray(log_odds[:, j], dtype=np.float64)
        p = expit(z)  # the label's softmax probability
        out["p_in"][j], _ = _side_moments(m, p)
        out["p_out"][j], _ = _side_moments(~m, p)
        out["mu_in"][j], out["var_in"][j] = _side_moments(m, z)
        out["mu_out"][j], out["var_out"][j] = _side_moments(~m, z)
    return out


def pooled_variances(stats: dict) -> tuple[float, float]:
    """The log-odds variance in and out averaged over every point with >= 2 members on that side (the other
    side's pool when none has): what a side with fewer than LIRA_PER_POINT_MIN members uses."""
    pools = [
        float(np.nanmean(v)) if np.isfinite(v).any() else np.nan for v in (stats["var_in"], stats["var_out"])
    ]
    pools = [p if not np.isnan(p) else q for p, q in zip(pools, pools[::-1], strict=True)]
    return pools[0], pools[1]


def lira_scores(stats: dict, n_in: np.ndarray, n_out: np.ndarray, pool: tuple | None = None) -> np.ndarray:
    """float [N] in (-1, 1): t / sqrt(1 + t^2) of the separation t = (mu_in - mu_out) / sqrt(s_in^2 + s_out^2)
    of Gaussians fit to the log-odds of the members that hold each point in and of those that hold it out
    (Phi(t) is the chance that an in-member is more confident in the label than an out-member; 0: none).

    A side with fewer than LIRA_PER_POINT_MIN members uses `pool` (variance in, variance out), or when None
    the variances pooled over the points of this call (`pooled_variances`); NaN where a side is empty.
    A caller scoring a few points (exact leave-one-out) passes a pool estimated once, so that no point's
    score depends on which other points are scored with it.
    """
    variances = [stats["var_in"], stats["var_out"]]
    pools = pooled_variances(stats) if pool is None else pool
    s2 = [
        np.maximum(np.where(n >= LIRA_PER_POINT_MIN, var, pool), LIRA_VAR_FLOOR)
        for n, var, pool in zip((n_in, n_out), variances, pools, strict=True)
    ]
    with np.errstate(invalid="ignore"):
        t = (stats["mu_in"] - stats["mu_out"]) / np.sqrt(s2[0] + s2[1])
    # t / sqrt(1 + t^2), not 2 Phi(t) - 1 (1.0 from t ~ 8.3 on: ties; docs/decisions.md: LiRA score squashing)
    return t / np.hypot(1.0, t)  # NaN stays NaN (empty side, or no variance pool)


def compute_scores(
    mask: np.ndarray, correct: np.ndarray, log_odds: np.ndarray | None = None, pool: tuple | None = None
) -> dict:
    """Scores of every point from K members at once.

    mask, correct: bool [K, N]; mask[k, i] = member k trained on point i, correct[k, i] = member k
    classifies point i as its scoring label. log_odds: float [K, N], member k's log-odds of that label,
    or None (conf and lira are then NaN); pool: lira's fixed variances (`lira_scores`). Returns arrays
    [N]: n_in, n_out, acc_in, acc_out, fz (Eq. 1), frac (Eq. 2), conf (Eq. 2 on the mean label
    probability), lira (`lira_scores`). acc_* is NaN where no member is in (out); every score is NaN where
    either is.
    """
    mask = np.asarray(mask, dtype=bool)
    correct = np.asarray(correct, dtype=bool)
    if mask.shape != correct.shape:
        raise ValueError(f"mask {mask.shape} and correctness {correct.shape} differ in shape")
    n_in = mask.sum(0)
    n_out = (~mask).sum(0)
    hits_in = (mask & correct).sum(0)
    hits_out = (~mask & correct).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_in = np.where(n_in > 0, hits_in / np.maximum(n_in, 1), np.nan)
        acc_out = np.where(n_out > 0, hits_out / np.maximum(n_out, 1), np.nan)
        fz = acc_in - acc_out
        frac = fraction_difference(acc_in, acc_out)
    # Scores are differences and ratios of member counts; round off float noise (e.g. 0.24999999999999997)
    # so that scores equal on paper compare equal to a threshold like 0.25 (ties count as memorized).
    fz, frac = np.round(fz, 12), np.round(frac, 12)
    conf = lira = np.full(mask.shape[1], np.nan)
    if log_odds is not None:
        if np.shape(log_odds) != mask.shape:
            raise ValueError(f"mask {mask.shape} and log-odds {np.shape(log_odds)} differ in shape")
        stats = confidence_stats(mask, log_odds)
        # continuous scores are not rounded: they are not count ratios, and rounding would make ties
        conf = fraction_difference(stats["p_in"], stats["p_out"])
        lira = lira_scores(stats, n_in, n_out, pool)
    return {
        "n_in": n_in,
        "n_out": n_out,
        "acc_in": acc_in,
        "acc_out": acc_out,
        "fz": fz,
        "frac": frac,
        "conf": conf,
        "lira": lira,
    }


def fraction_difference(a_in: np.ndarray, a_out: np.ndarray) -> np.ndarray:
    """Eq. 2, (a_in - a_out) / (a_in + a_out), of accuracies or mean probabilities."""
    total = a_in + a_out
    # 0/0 (never right, in or out) is 0, not memorized (docs/decisions.md: Eq. 2 of 0/0 is 0); NaN stays NaN
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            total > 0,
            (a_in - a_out) / np.where(total > 0, total, 1.0),
            np.where(np.isnan(total), np.nan, 0.0),
        )


def score_table(
    mask, correct, label, true_label, canary, path=None, log_odds=None, interval_level=DEFAULT_LEVEL
) -> pd.DataFrame:
    """The scores.csv table: one row per training point, in dataset index order.

    `log_odds`: the members' label log-odds [K, N] (correct.npz), for conf and lira (NaN without).

    `path`: each point's file relative to its image folder (memgen.data.index.point_paths); None or
    "" for datasets without files (bundled, CIFAR), so every scores.csv has the same columns.
    """
    s = compute_scores(mask, correct, log_odds)
    n = mask.shape[1]
    path = np.full(n, "", dtype=object) if path is None else np.asarray(path, dtype=object)
    if len(path) != n:
        raise ValueError(f"{len(path)} paths for {n} points")
    return pd.DataFrame(
        {
            "index": np.arange(n),
            "path": path,
            "label": np.asarray(label, dtype=np.int64),
            "true_label": np.asarray(true_label, dtype=np.int64),
            "canary": np.asarray(canary, dtype=bool).astype(np.int8),
            **s,
            **interval_columns(s, interval_level),  # per-point confidence intervals (memgen.scores.intervals)
        }
    )
