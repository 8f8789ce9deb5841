"""Per-point memorization scores from an ensemble's masks and correctness (paper Eq. 1 and Eq. 2)."""

import numpy as np
import pandas as pd

from memgen.intervals import DEFAULT_LEVEL, interval_columns

DEFINITIONS = ("fz", "frac")


def compute_scores(mask: np.ndarray, correct: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of every point from K members at once.

    mask, correct: bool [K, N]; mask[k, i] = member k trained on point i, correct[k, i] = member k
    classifies point i as its scoring label. Returns float/int arrays [N]: n_in, n_out, acc_in, acc_out,
    fz (Eq. 1), frac (Eq. 2). acc_* is NaN where no member is in (out); fz and frac are NaN where either is.
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
        total = acc_in + acc_out
        # Eq. 2 is 0/0 for a point never classified correctly, in or out: nothing was learned, so it
        # is not memorized -> score 0 (DESIGN.md decision). NaN inputs stay NaN.
        frac = np.where(
            total > 0, fz / np.where(total > 0, total, 1.0), np.where(np.isnan(total), np.nan, 0.0)
        )
    # Scores are differences and ratios of member counts; round off float noise (e.g. 0.24999999999999997)
    # so that scores equal on paper compare equal to a threshold like 0.25 (ties count as memorized).
    fz, frac = np.round(fz, 12), np.round(frac, 12)
    return {"n_in": n_in, "n_out": n_out, "acc_in": acc_in, "acc_out": acc_out, "fz": fz, "frac": frac}


def score_table(
    mask, correct, label, true_label, canary, path=None, interval_level=DEFAULT_LEVEL
) -> pd.DataFrame:
    """The scores.csv table: one row per training point, in dataset index order.

    `path`: each point's file relative to its image folder (memgen.memorized.point_paths); None or "" for
    datasets without files (bundled, CIFAR), so every scores.csv has the same columns.
    """
    s = compute_scores(mask, correct)
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
            **interval_columns(s, interval_level),  # per-point confidence intervals (memgen.intervals)
        }
    )
