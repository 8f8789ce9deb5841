"""Which definition separates memorized points from the rest (paper §3.2, Fig. 2, 7, 8).

Canaries (randomly relabelled, so only memorization can fit them) are the positives, natural points
the negatives; a definition is better when a threshold that catches 95 % of the canaries flags fewer
natural points. Only points with n_in ≥ 1 and n_out ≥ min_out take part (paper App. A.1: held out by
about 10 members, so one held-out member does not decide a score).
"""

import math

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from memgen.scores import DEFINITIONS
from memgen.thresholds import check_columns, check_definition, scored

COLUMNS = ["definition", "fpr_at_95tpr", "auroc", "aupr", "n_canaries", "n_natural", "n_excluded"]


def _both_classes(y_true: np.ndarray) -> bool:
    return bool(y_true.any() and not y_true.all())


def fpr_at_tpr(y_true, score, tpr: float = 0.95) -> float:
    """FPR at the first ROC operating point (thresholds taken from the highest down) whose TPR ≥ `tpr`.

    An operating point is a threshold t on the score, predicting "memorized" for score ≥ t; every
    distinct score is one (sklearn `roc_curve` with drop_intermediate=False), so tied scores are never
    split. This is the smallest FPR among the points that reach the TPR, and its threshold is the lower
    null threshold of `thresholds.null_threshold` (α = 1 − tpr). NaN when a class is absent.
    """
    y_true = np.asarray(y_true).astype(bool)
    score = np.asarray(score, dtype=float)
    if not _both_classes(y_true):
        return math.nan
    fpr, tprs, _ = roc_curve(y_true, score, drop_intermediate=False)
    # tiny tolerance: a TPR of k/P that equals `tpr` on paper must count even if it rounds below it
    first = int(np.argmax(tprs >= tpr - 1e-12))  # TPR reaches 1 at the last point, so one always exists
    return float(fpr[first])


def _eligible(scores: pd.DataFrame, min_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(bool [N] points taking part, bool [N] canary)."""
    check_columns(scores, ("canary", "n_in", "n_out", *DEFINITIONS))
    return scored(scores, min_out), scores["canary"].to_numpy().astype(int) == 1


def compare_definitions(scores: pd.DataFrame, min_out: int) -> pd.DataFrame:
    """One row per definition (fz, frac): FPR@95%TPR, AUROC, AUPR and the counts they rest on.

    AUPR is average precision (sklearn: step-wise sum of precision over recall increments, no
    interpolation), which unlike the trapezoidal area does not reward a linear interpolation between
    operating points that cannot be reached. Metrics are NaN when a class is absent.
    n_canaries + n_natural + n_excluded = N (n_excluded counts both classes).
    """
    ok, canary = _eligible(scores, min_out)
    y = canary[ok]
    rows = []
    for definition in DEFINITIONS:
        s = scores[definition].to_numpy(dtype=float)[ok]
        both = _both_classes(y)
        rows.append(
            {
                "definition": definition,
                "fpr_at_95tpr": fpr_at_tpr(y, s, 0.95),
                "auroc": float(roc_auc_score(y, s)) if both else math.nan,
                "aupr": float(average_precision_score(y, s)) if both else math.nan,
                "n_canaries": int(y.sum()),
                "n_natural": int((~y).sum()),
                "n_excluded": int((~ok).sum()),
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def detection_curves(scores: pd.DataFrame, definition: str, min_out: int) -> dict[str, np.ndarray]:
    """ROC (fpr, tpr) and precision-recall (precision, recall) curves for Fig. 7, same points as
    `compare_definitions`. All four arrays are empty when a class is absent."""
    check_definition(definition)
    ok, canary = _eligible(scores, min_out)
    y = canary[ok]
    s = scores[definition].to_numpy(dtype=float)[ok]
    if not _both_classes(y):
        empty = np.array([], dtype=float)
        return {"fpr": empty, "tpr": empty.copy(), "precision": empty.copy(), "recall": empty.copy()}
    fpr, tpr, _ = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    return {"fpr": fpr, "tpr": tpr, "precision": precision, "recall": recall}
