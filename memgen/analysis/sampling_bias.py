"""Sampling bias (paper §3.1, Fig. 1 and 6): how far each point's score at rate r is from the
reference ensemble's (rate 0.95, close to leave-one-out), and from exact leave-one-out (memgen.loo.truth) on
the points loo.csv holds, the reference's own error included.

Rows: `against` "reference" (every natural point, `points` "all") or "loo" (`points` "random": the
simple random sample, an unbiased estimate of the mean over all natural points; "top": the points half A of
the reference scores highest). Against leave-one-out the reference ensemble is its half B (`members` says
how many), the members that did not choose the top points. `mae_lo`, `mae_hi`: a 95 % Student-t interval
of the mean over points. `truth_se`: the mean jackknife standard error of the LOO scores themselves, the
part of a LOO error that is the truth's own noise (NaN against the reference)."""

import math

import numpy as np
import pandas as pd
from scipy import stats

from memgen.errors import fail
from memgen.scores.compute import DEFINITIONS
from memgen.scores.thresholds import check_columns

COLUMNS = [
    "ensemble",
    "rate",
    "definition",
    "against",
    "points",
    "mae",
    "mae_lo",
    "mae_hi",
    "std_abs_error",
    "n_points",
    "truth_se",
    "members",
]
LEVEL = 0.95  # of the interval of each mean absolute error over points


def sampling_bias(scores: dict[str, pd.DataFrame], rates: dict[str, float], reference: str) -> pd.DataFrame:
    """One row per non-reference ensemble and definition: mean (and sample std) of |s_r(i) − s_ref(i)|.

    Natural points only: canaries are planted label noise whose scores form the null, not scores of
    the dataset the study is about. A point counts when its score is defined (n_in ≥ 1 and n_out ≥ 1)
    in both ensembles. Rows are ordered by rate, then ensemble name, then definition (fz, frac).
    """
    if reference not in scores:
        raise fail(
            f"reference ensemble {reference!r} is not among the scored ensembles {sorted(scores)}",
            "add the reference ensemble to the sampling-bias inputs or name one that is there",
        )
    missing = [name for name in scores if name not in rates]
    if missing:
        raise fail(f"ensembles {missing} have no sampling rate", "pass a rate for every ensemble")
    ref = scores[reference]
    check_columns(ref, ("canary", *DEFINITIONS))
    rows = []
    for name in sorted((n for n in scores if n != reference), key=lambda n: (rates[n], n)):
        table = scores[name]
        check_columns(table, ("canary", *DEFINITIONS))
        if len(table) != len(ref) or not np.array_equal(
            table["canary"].to_numpy().astype(int), ref["canary"].to_numpy().astype(int)
        ):
            raise fail(
                f"ensemble {name!r} scores {len(table)} points with other canaries than the reference "
                f"{reference!r} ({len(ref)} points)",
                "score both ensembles on the same dataset and canaries.npz",
            )
        natural = ref["canary"].to_numpy().astype(int) == 0
        for definition in DEFINITIONS:
            error = table[definition].to_numpy(dtype=float) - ref[definition].to_numpy(dtype=float)
            abs_error = np.abs(error[natural & ~np.isnan(error)])
            row = _row(name, rates[name], definition, "reference", "all", abs_error, math.nan)
            rows.append({**row, "members": _members(table)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _row(name, rate, definition, against, points, abs_error, truth_se) -> dict:
    n = int(abs_error.size)
    mean, sd = (
        (float(abs_error.mean()) if n else math.nan),
        (float(abs_error.std(ddof=1)) if n > 1 else math.nan),
    )
    half = stats.t.ppf(0.5 + LEVEL / 2, n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
    return {
        "ensemble": name,
        "rate": float(rate),
        "definition": definition,
        "against": against,
        "points": points,
        "mae": mean,
        "mae_lo": max(0.0, mean - half) if n > 1 else math.nan,
        "mae_hi": mean + half if n > 1 else math.nan,
        "std_abs_error": sd,
        "n_points": n,
        "truth_se": truth_se,
    }


def _members(table: pd.DataFrame) -> float:
    """Members behind a scores table (n_in + n_out of its first point); NaN when it has no such columns."""
    if not {"n_in", "n_out"} <= set(table.columns) or table.empty:
        return math.nan
    return float(table["n_in"].iloc[0] + table["n_out"].iloc[0])


def loo_bias(
    scores: dict[str, pd.DataFrame], rates: dict[str, float], loo: pd.DataFrame, reference: str
) -> pd.DataFrame:
    """One row per ensemble (the reference too, as its half B: loo.csv's `<d>_ref_half`), definition and
    stratum of loo.csv (`chosen`: random, then top): mean (with a 95 % interval) and sample std of
    |s_r(i) − s_loo(i)| over the stratum's points scored in both. An empty loo.csv (leave-one-out skipped
    on this dataset) gives no row."""
    columns = [f"{d}_{c}" for d in DEFINITIONS for c in ("loo", "loo_se", "ref_half")]
    check_columns(loo, ("index", "chosen", *columns))
    rows = []
    strata = [s for s in ("random", "top") if (loo["chosen"] == s).any()]
    for name in sorted(scores, key=lambda n: (rates[n], n)):
        table = scores[name]
        check_columns(table, ("canary", *DEFINITIONS))
        members = _members(table)
        for stratum in strata:
            part = loo[loo["chosen"] == stratum]
            _check_points(part, table, name, stratum)
            for definition in DEFINITIONS:
                if name == reference:
                    score = part[f"{definition}_ref_half"].to_numpy(dtype=float)
                else:
                    score = table[definition].to_numpy(dtype=float)[part["index"].to_numpy(dtype=np.int64)]
                row = _loo_row(name, rates[name], definition, stratum, score, part)
                rows.append({**row, "members": members // 2 if name == reference else members})
    return pd.DataFrame(rows, columns=COLUMNS)


def _check_points(part: pd.DataFrame, table: pd.DataFrame, name: str, stratum: str) -> None:
    idx = part["index"].to_numpy(dtype=np.int64)
    if idx.max() >= len(table) or table["canary"].to_numpy().astype(int)[idx].any():
        raise fail(
            f"loo.csv's {stratum} points are not natural points of ensemble {name!r} ({len(table)} points)",
            "make loo.csv and the scores from the same dataset and canaries.npz (rerun rule loo)",
        )


def _loo_row(name, rate, definition, stratum, score, part) -> dict:
    error = score - part[f"{definition}_loo"].to_numpy(dtype=float)
    ok = ~np.isnan(error)
    se = part[f"{definition}_loo_se"].to_numpy(dtype=float)[ok]
    truth_se = float(np.nanmean(se)) if np.isfinite(se).any() else math.nan
    return _row(name, rate, definition, "loo", stratum, np.abs(error[ok]), truth_se)
