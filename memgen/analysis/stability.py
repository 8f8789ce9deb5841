"""Stability of scores with ensemble size (paper App. A.1, Fig. 9): split the members into disjoint
groups of `size`, score each group alone, and see how well groups agree on the ranking of points."""

import itertools
import math
import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from memgen.errors import fail
from memgen.scores.compute import CONFIDENCE_DEFINITIONS, DEFINITIONS, compute_scores

COLUMNS = ["definition", "size", "n_groups", "mean_spearman", "std_spearman", "n_pairs"]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho; NaN when fewer than 2 points or either side is constant (rank undefined)."""
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(a, b).statistic)


def stability(
    mask: np.ndarray, correct: np.ndarray, sizes: list[int], seed: int, min_out: int = 1, log_odds=None
) -> pd.DataFrame:
    """Mean and sample std of the pairwise Spearman correlation between the scores of disjoint groups.

    Members are shuffled once with `seed`; groups of `size` are consecutive slices of that order
    (floor(K / size) groups, leftover members unused), so every size reuses the same shuffle. A point
    enters a pair when it is scored in both groups (n_in ≥ 1 and n_out ≥ min_out in each). A pair whose
    correlation is undefined (< 2 common points, or constant scores) is left out; n_pairs counts the
    pairs that entered. Sizes giving fewer than 2 groups produce no row. Rows: by definition, then size.
    log_odds: the members' label log-odds [K, N] for conf and lira; without them those get no row.
    """
    mask = np.asarray(mask, dtype=bool)
    correct = np.asarray(correct, dtype=bool)
    if mask.ndim != 2 or mask.shape != correct.shape:
        raise ValueError(f"mask {mask.shape} and correctness {correct.shape} must be the same [K, N] shape")
    bad = [s for s in sizes if int(s) != s or s < 1]
    if bad:
        raise fail(
            f"stability sizes {bad} are not positive integers", "list sub-ensemble sizes such as [10, 20]"
        )
    order = np.random.default_rng(seed).permutation(mask.shape[0])
    rows = []
    # one size at a time, so only that size's group scores are in memory (50 groups × N at paper scale)
    for size in sorted({int(s) for s in sizes}):
        n_groups = mask.shape[0] // size
        if n_groups < 2:
            continue
        groups = [order[g * size : (g + 1) * size] for g in range(n_groups)]
        group_scores = [
            compute_scores(mask[g], correct[g], None if log_odds is None else log_odds[g]) for g in groups
        ]
        for definition in DEFINITIONS:
            if log_odds is None and definition in CONFIDENCE_DEFINITIONS:
                continue
            ok = [(s["n_in"] >= 1) & (s["n_out"] >= min_out) & ~np.isnan(s[definition]) for s in group_scores]
            rhos = []
            for a, b in itertools.combinations(range(n_groups), 2):
                both = ok[a] & ok[b]
                rho = spearman(group_scores[a][definition][both], group_scores[b][definition][both])
                if not math.isnan(rho):
                    rhos.append(rho)
            rhos = np.asarray(rhos)
            rows.append(
                {
                    "definition": definition,
                    "size": size,
                    "n_groups": n_groups,
                    "mean_spearman": float(rhos.mean()) if rhos.size else math.nan,
                    "std_spearman": float(rhos.std(ddof=1)) if rhos.size > 1 else math.nan,
                    "n_pairs": int(rhos.size),
                }
            )
    rows.sort(key=lambda r: (DEFINITIONS.index(r["definition"]), r["size"]))
    return pd.DataFrame(rows, columns=COLUMNS)
