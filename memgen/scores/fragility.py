"""How fragile a memorized set is: the points one held-out member's flip would move across τ.

fz and frac count correct members, so the smallest change a member can make to a point's score is one
held-out member right instead of wrong (the score falls) or wrong instead of right (it rises). A set whose
points sit within that step of τ moves with the last bit of any member (a CPU code path, a driver), so
thresholds.json reports how many points of each set would leave it, and how many outside would enter.
"""

import numpy as np
import pandas as pd

from memgen.scores.compute import fraction_difference

FRAGILITY_DEFINITIONS = ("fz", "frac")  # scores that move in steps of one member


def _score(definition: str, acc_in: np.ndarray, acc_out: np.ndarray) -> np.ndarray:
    return acc_in - acc_out if definition == "fz" else fraction_difference(acc_in, acc_out)


def one_flip_scores(scores: pd.DataFrame, definition: str) -> tuple[np.ndarray, np.ndarray]:
    """Each point's score with one more held-out member right (lower) and one fewer (higher); a point
    every held-out member gets right (or wrong) cannot move further that way and keeps its score."""
    acc_in = scores["acc_in"].to_numpy(dtype=float)
    acc_out = scores["acc_out"].to_numpy(dtype=float)
    n_out = scores["n_out"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.where(n_out > 0, 1.0 / n_out, 0.0)
    # rounded as memgen.scores.compute rounds, so a point exactly at τ compares as it does there
    lower = np.round(_score(definition, acc_in, np.minimum(acc_out + step, 1.0)), 12)
    higher = np.round(_score(definition, acc_in, np.maximum(acc_out - step, 0.0)), 12)
    return lower, higher


def fragile_counts(
    scores: pd.DataFrame, definition: str, tau: float | None, selected: np.ndarray, eligible: np.ndarray
) -> dict | None:
    """{"leave": points of the set (`selected`) one held-out member right would drop below τ, "enter":
    eligible points outside it one held-out member wrong would lift to τ}; None where it has no meaning
    (a continuous definition, an undefined τ, a table without acc_out)."""
    if definition not in FRAGILITY_DEFINITIONS or tau is None or not np.isfinite(tau):
        return None
    if not {"acc_in", "acc_out", "n_out"} <= set(scores.columns):  # a table without the counts
        return None
    lower, higher = one_flip_scores(scores, definition)
    selected, eligible = np.asarray(selected, bool), np.asarray(eligible, bool)
    return {
        "leave": int((selected & (lower < tau)).sum()),
        "enter": int((eligible & ~selected & (higher >= tau)).sum()),
    }
