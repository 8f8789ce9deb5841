"""Sampling bias (paper §3.1, Fig. 1 and 6): how far each point's score at rate r is from the
reference ensemble's (rate 0.95, close to leave-one-out), and from exact leave-one-out (memgen.loo.truth) on
the points loo.csv holds, the reference's own error included.

Rows: `against` "reference" (every natural point, `points` "all") or "loo" (`points` "random": the simple
random sample, an unbiased estimate of the mean over all natural points; "top_a": the points half A of the
reference scores highest; "top_b": those half B does; "top": both top sets pooled). Against leave-one-out the
reference ensemble is whole on the random points, where nothing was selected, and on a top set the half that
did not choose it (`members` says how many): half B on top_a, half A on top_b, and on "top" both directions
pooled, cross-fitted. `mae_lo`, `mae_hi`: a 95 % Student-t interval of the mean over points. `truth_se`: the
root mean jackknife variance of the LOO scores themselves (loo.csv's `<d>_loo_var`), the typical size of the
truth's own noise in an error (NaN against the reference). `mse`: the mean squared error; `mse_corrected`: the
mean of error^2 - var over points, the truth's own variance taken out (E[(s - loo)^2] = E[(s - truth)^2] +
var, the LOO models being trained apart from every ensemble), with a 95 % t interval (`mse_corrected_lo`,
`_hi`; it may dip below 0 when the error is within the truth's noise) and `rmse_corrected`, its root (0 when
below 0) in score units. The unbiased jackknife variance is subtracted, not the floored se: the floor
(memgen.loo.truth._floor_se) states one point's uncertainty, and subtracting it would over-correct."""

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
    "mse",
    "mse_corrected",
    "mse_corrected_lo",
    "mse_corrected_hi",
    "rmse_corrected",
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
            row = _row(name, rates[name], definition, "reference", "all", error[natural & ~np.isnan(error)])
            rows.append({**row, "members": _members(table)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _row(name, rate, definition, against, points, error, var=None) -> dict:
    """One row from the errors of the points compared (and, against leave-one-out, the truth's variance
    there)."""
    abs_error, n = np.abs(error), int(error.size)
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
        "truth_se": math.sqrt(np.nanmean(var)) if var is not None and np.isfinite(var).any() else math.nan,
        "mse": float(np.mean(error**2)) if n else math.nan,
        **_corrected(error, var),
    }


def _corrected(error: np.ndarray, var: np.ndarray | None) -> dict:
    """mean(error^2 - var) over the points with a variance, its 95 % t interval and root (score units)."""
    keys = ("mse_corrected", "mse_corrected_lo", "mse_corrected_hi", "rmse_corrected")
    ok = np.isfinite(var) if var is not None else np.zeros(error.size, bool)
    if not ok.any():
        return dict.fromkeys(keys, math.nan)
    v = error[ok] ** 2 - var[ok]
    mean, n = float(v.mean()), int(v.size)
    half = stats.t.ppf(0.5 + LEVEL / 2, n - 1) * v.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
    return dict(zip(keys, (mean, mean - half, mean + half, math.sqrt(max(mean, 0.0))), strict=True))


def _members(table: pd.DataFrame) -> float:
    """Members behind a scores table (n_in + n_out of its first point); NaN when it has no such columns."""
    if not {"n_in", "n_out"} <= set(table.columns) or table.empty:
        return math.nan
    return float(table["n_in"].iloc[0] + table["n_out"].iloc[0])


# sampling_bias.csv's `points` against leave-one-out -> loo.csv's strata read: "top" pools both top sets
# (the reference cross-fitted), "top_a" and "top_b" give each direction alone.
LOO_POINTS = {"random": ("random",), "top": ("top", "top_b"), "top_a": ("top",), "top_b": ("top_b",)}


def loo_bias(
    scores: dict[str, pd.DataFrame], rates: dict[str, float], loo: pd.DataFrame, reference: str
) -> pd.DataFrame:
    """One row per ensemble (the reference too), definition and set of loo.csv points (`LOO_POINTS`: random,
    top, top_a, top_b, those present): mean (with a 95 % interval) and sample std of |s_r(i) − s_loo(i)|, and
    the noise-corrected mean squared error, over the points scored in both. The reference is its whole scores
    on the random points, nothing having been selected there; on a top set its half that did not rank it
    (loo.csv's `<d>_ref_half`: B on top, A on top_b). "top" pools the errors of both top sets, so the
    reference's row is cross-fitted: with both sets equally many points scored, its mae is the mean of the two
    directions' (top_a, top_b). An empty loo.csv (leave-one-out skipped on this dataset) gives no row."""
    columns = [f"{d}_{c}" for d in DEFINITIONS for c in ("loo", "loo_se", "ref_half")]  # _loo_var: optional
    check_columns(loo, ("index", "chosen", *columns))
    parts = {s: loo[loo["chosen"] == s] for s in ("random", "top", "top_b") if (loo["chosen"] == s).any()}
    points = [p for p, strata in LOO_POINTS.items() if any(s in parts for s in strata)]
    rows = []
    for name in sorted(scores, key=lambda n: (rates[n], n)):
        table = scores[name]
        check_columns(table, ("canary", *DEFINITIONS))
        for stratum, part in parts.items():
            _check_points(part, table, name, stratum)
        for p in points:
            chosen = [parts[s] for s in LOO_POINTS[p] if s in parts]
            half = name == reference and p != "random"  # a half ranked these points: the other reports
            for definition in DEFINITIONS:
                error, var = _errors(table, chosen, definition, half)
                row = _row(name, rates[name], definition, "loo", p, error, var)
                rows.append({**row, "members": _members(table) // 2 if half else _members(table)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _errors(table: pd.DataFrame, chosen: list, definition: str, half: bool) -> tuple[np.ndarray, np.ndarray]:
    """score − LOO score over the chosen strata's points (each stratum's rows, a point in two top sets twice)
    where both are defined, and the truth's variance there; `half`: the score is loo.csv's `<d>_ref_half`."""
    errors, variances = [], []
    for part in chosen:
        if half:
            score = part[f"{definition}_ref_half"].to_numpy(dtype=float)
        else:
            score = table[definition].to_numpy(dtype=float)[part["index"].to_numpy(dtype=np.int64)]
        error = score - part[f"{definition}_loo"].to_numpy(dtype=float)
        ok = ~np.isnan(error)
        errors.append(error[ok])
        variances.append(_variance(part, definition)[ok])
    return np.concatenate(errors), np.concatenate(variances)


def _check_points(part: pd.DataFrame, table: pd.DataFrame, name: str, stratum: str) -> None:
    idx = part["index"].to_numpy(dtype=np.int64)
    if idx.max() >= len(table) or table["canary"].to_numpy().astype(int)[idx].any():
        raise fail(
            f"loo.csv's {stratum} points are not natural points of ensemble {name!r} ({len(table)} points)",
            "make loo.csv and the scores from the same dataset and canaries.npz (rerun rule loo)",
        )


def _variance(part: pd.DataFrame, definition: str) -> np.ndarray:
    """The LOO scores' jackknife variance; a loo.csv from before `<d>_loo_var` had an se without floor."""
    if f"{definition}_loo_var" in part.columns:
        return part[f"{definition}_loo_var"].to_numpy(dtype=float)
    return part[f"{definition}_loo_se"].to_numpy(dtype=float) ** 2
