"""Which definition separates memorized points from the rest (paper §3.2, Fig. 2, 7, 8).

Canaries (randomly relabelled, so only memorization can fit them) are the positives, natural points
the negatives; a definition is better when a threshold that catches 95 % of the canaries flags fewer
natural points. Only points with n_in ≥ 1 and n_out ≥ min_out take part (paper App. A.1: held out by
about 10 members, so one held-out member does not decide a score).

Each comparison is made twice (column `canaries`): over every scored canary ("all") and over the canaries
the members actually fit ("fit": acc_in ≥ FIT_ACC_IN). A canary never fit is memorized under no
definition; where many are never fit, FPR@95%TPR over all canaries measures the fit, not the definition.
"""

import math

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from memgen.errors import fail
from memgen.scores.compute import DEFINITIONS
from memgen.scores.thresholds import check_columns, check_definition, scored

COLUMNS = ["definition", "canaries", "fpr_at_95tpr", "auroc", "aupr", "n_canaries", "n_natural", "n_excluded"]
CANARY_SUBSETS = ("all", "fit")
# A canary counts as fit when at least half of the members that trained on it classify it as its label.
FIT_ACC_IN = 0.5


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


def _eligible(scores: pd.DataFrame, min_out: int, canaries: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """(bool [N] points taking part, bool [N] canary). canaries "fit" drops the canaries with
    acc_in < FIT_ACC_IN (the natural points stay)."""
    if canaries not in CANARY_SUBSETS:
        raise fail(f"canary subset {canaries!r} is not one of {CANARY_SUBSETS}", "use 'all' or 'fit'")
    check_columns(scores, ("canary", "n_in", "n_out", "acc_in", *DEFINITIONS))
    ok, canary = scored(scores, min_out), scores["canary"].to_numpy().astype(int) == 1
    if canaries == "fit":
        with np.errstate(invalid="ignore"):
            ok = ok & ~(canary & ~(scores["acc_in"].to_numpy(dtype=float) >= FIT_ACC_IN))
    return ok, canary


def _metrics(y: np.ndarray, s: np.ndarray) -> dict:
    """FPR@95%TPR, AUROC, AUPR; NaN when a class is absent or a score is missing (conf and lira of a
    table made without the members' log-odds)."""
    if not _both_classes(y) or np.isnan(s).any():
        return {"fpr_at_95tpr": math.nan, "auroc": math.nan, "aupr": math.nan}
    return {
        "fpr_at_95tpr": fpr_at_tpr(y, s, 0.95),
        "auroc": float(roc_auc_score(y, s)),
        "aupr": float(average_precision_score(y, s)),
    }


def compare_definitions(scores: pd.DataFrame, min_out: int) -> pd.DataFrame:
    """One row per canary subset (all, fit) and definition (DEFINITIONS), in that order: FPR@95%TPR,
    AUROC, AUPR and the counts they rest on.

    AUPR is average precision (sklearn: step-wise sum of precision over recall increments, no
    interpolation), which unlike the trapezoidal area does not reward a linear interpolation between
    operating points that cannot be reached. Metrics are NaN when a class is absent.
    n_canaries + n_natural + n_excluded = N (n_excluded counts both classes, and the canaries never fit
    in the "fit" rows).
    """
    rows = []
    for subset in CANARY_SUBSETS:
        ok, canary = _eligible(scores, min_out, subset)
        y = canary[ok]
        for definition in DEFINITIONS:
            rows.append(
                {
                    "definition": definition,
                    "canaries": subset,
                    **_metrics(y, scores[definition].to_numpy(dtype=float)[ok]),
                    "n_canaries": int(y.sum()),
                    "n_natural": int((~y).sum()),
                    "n_excluded": int((~ok).sum()),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def detection_curves(
    scores: pd.DataFrame, definition: str, min_out: int, canaries: str = "all"
) -> dict[str, np.ndarray]:
    """ROC (fpr, tpr) and precision-recall (precision, recall) curves for Fig. 7, same points as
    `compare_definitions`. All four arrays are empty when a class is absent or a score is missing."""
    check_definition(definition)
    ok, canary = _eligible(scores, min_out, canaries)
    y = canary[ok]
    s = scores[definition].to_numpy(dtype=float)[ok]
    if not _both_classes(y) or np.isnan(s).any():
        empty = np.array([], dtype=float)
        return {"fpr": empty, "tpr": empty.copy(), "precision": empty.copy(), "recall": empty.copy()}
    fpr, tpr, _ = roc_curve(y, s)
    precision, recall, _ = precision_recall_curve(y, s)
    return {"fpr": fpr, "tpr": tpr, "precision": precision, "recall": recall}


def detection(scores: pd.DataFrame, min_out: int) -> dict:
    """Fig. 7's data of one ensemble: `metrics` (compare_definitions), `curves` ({(canary subset,
    definition): detection_curves}) and `n_natural`, the scored natural points."""
    return {
        "metrics": compare_definitions(scores, min_out),
        "curves": {
            (subset, d): detection_curves(scores, d, min_out, subset)
            for subset in CANARY_SUBSETS
            for d in DEFINITIONS
        },
        "n_natural": int((scored(scores, min_out) & (scores["canary"] == 0)).sum()),
    }
