"""Exact leave-one-out truth on small datasets.

For a few natural points i, M models train on the whole training set and M on the training set minus i;
the leave-one-out score of i is a score definition (memgen.scores.compute) evaluated on those 2M models, with
the M full models as "in" and the M leave-i-out models as "out". The points are two strata:

- `top`: the n_top natural points the reference ensemble scores highest (frac, then fz, then index): a
  census of the points the study calls memorized, where the reference's error matters most;
- `random`: the first n_random natural points of a seeded permutation of all natural points (a simple
  random sample, drawn without looking at any score, so its mean error is an unbiased estimate of the
  mean over every natural point; a point may be in both strata). Growing n_random appends points.

Each stratum is trained in jobs of POINTS_PER_JOB points (positions [first, last) of its ranking,
memgen.paths.loo_groups), so a job's points depend on its inputs and (stratum, position) alone, and a larger
n_random adds jobs.
"""

import inspect
import warnings

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.paths import STRATA
from memgen.scores.compute import DEFINITIONS, compute_scores

# Bootstrap resamples of the M seed pairs for each LOO score's standard error (its noise as a "truth").
BOOTSTRAP = 200
COLUMNS = [
    "index",
    "path",
    "label",
    "canary",
    "chosen",
    "rank",
    "n_full",
    "n_loo",
    "acc_full",
    "acc_loo",
]


def top_ranking(scores: pd.DataFrame) -> np.ndarray:
    """Natural points by the reference's frac (Eq. 2), highest first; ties by fz, then by index (so the
    ranking is the same on every machine). Points without a score (NaN) come never."""
    missing = [c for c in ("index", "canary", "fz", "frac") if c not in scores.columns]
    if missing:
        raise fail(
            f"the reference scores lack columns {missing}", "pass a scores.csv made by the scores rule"
        )
    s = scores[(scores["canary"].astype(int) == 0) & scores["frac"].notna() & scores["fz"].notna()]
    s = s.sort_values(["frac", "fz", "index"], ascending=[False, False, True], kind="stable")
    return s["index"].to_numpy(dtype=np.int64)


def random_ranking(canary: np.ndarray, seed: int) -> np.ndarray:
    """Natural points in a seeded random order: the first n of it are a simple random sample of size n,
    and the sample of n + k extends that of n."""
    natural = np.flatnonzero(~np.asarray(canary, dtype=bool))
    return natural[np.random.default_rng([seed, 0x100]).permutation(len(natural))]


def chosen_points(ranking: np.ndarray, first: int, last: int) -> np.ndarray:
    """Positions [first, last) of a ranking; fewer (or none) when the dataset has fewer natural points."""
    return np.asarray(ranking[first:last], dtype=np.int64)


def _scores(mask, correct, log_odds) -> dict:
    # log_odds is passed where compute_scores takes it (continuous definitions need it)
    if "log_odds" in inspect.signature(compute_scores).parameters:
        return compute_scores(mask, correct, log_odds=log_odds)
    return compute_scores(mask, correct)


def loo_scores(
    full_correct: np.ndarray,
    full_log_odds: np.ndarray,
    loo_correct: np.ndarray,
    loo_log_odds: np.ndarray,
    seed: int,
    bootstrap: int = BOOTSTRAP,
) -> pd.DataFrame:
    """Leave-one-out scores of P points from paired models.

    full_*: [M, P], the M full models on the P points; loo_*: [M, P], column j from the M models trained
    without point j. Seed m trains full model m and every leave-j-out model m (same initial weights;
    the batch order is drawn from the same seed over N - 1 points, so it differs: removing the point is
    not the only difference, and each score carries SGD noise of about a member-to-member spread).
    Returns per point: n_full, n_loo, acc_full, acc_loo, and per definition `<d>_loo` and `<d>_loo_se`
    (standard error: std of the score over `bootstrap` resamples of the M seed pairs; its steps are 1/M).
    """
    fc, lc = np.asarray(full_correct, bool), np.asarray(loo_correct, bool)
    fl, ll = np.asarray(full_log_odds, np.float32), np.asarray(loo_log_odds, np.float32)
    if not fc.shape == lc.shape == fl.shape == ll.shape or fc.ndim != 2:
        raise fail(
            f"full models' outputs {fc.shape}/{fl.shape} and leave-one-out models' {lc.shape}/{ll.shape} "
            "must all be [seeds, points]",
            "rerun the loo rules of this dataset: snakemake --forcerun loo",
        )
    M, P = fc.shape
    mask = np.concatenate([np.ones((M, P), bool), np.zeros((M, P), bool)])

    def score(rows):
        return _scores(
            mask,
            np.concatenate([fc[rows], lc[rows]]),
            np.concatenate([fl[rows], ll[rows]]),
        )

    s = score(np.arange(M))
    out = {"n_full": s["n_in"], "n_loo": s["n_out"], "acc_full": s["acc_in"], "acc_loo": s["acc_out"]}
    rng = np.random.default_rng([seed, 0xB00])
    boot = {d: np.empty((bootstrap, P)) for d in DEFINITIONS}
    for b in range(bootstrap):
        sb = score(rng.integers(0, M, M))  # resample seed pairs: full and LOO model of a seed together
        for d in DEFINITIONS:
            boot[d][b] = sb[d]
    for d in DEFINITIONS:
        out[f"{d}_loo"] = s[d]
        with warnings.catch_warnings():  # a point whose score is undefined in every resample: NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            se = np.nanstd(boot[d], axis=0, ddof=1) if bootstrap > 1 else np.full(P, np.nan)
        out[f"{d}_loo_se"] = np.round(se, 12)
    return pd.DataFrame(out)


def score_columns() -> list[str]:
    return [c for d in DEFINITIONS for c in (f"{d}_loo", f"{d}_loo_se")]


def loo_table(strata: dict, full_correct, full_log_odds, label, path, seed: int, bootstrap=BOOTSTRAP):
    """loo.csv: one row per chosen point and stratum (top first, then random, each in ranking order).

    strata: name -> {"index": int [P], "correct": bool [M, P], "log_odds": float [M, P]} from the
    leave-one-out jobs of that stratum; full_*: [M, N] of the full models on every training point.
    """
    full_correct, full_log_odds = np.asarray(full_correct, bool), np.asarray(full_log_odds, np.float32)
    tables = []
    for name in STRATA:
        part = strata.get(name)
        if part is None or len(part["index"]) == 0:
            continue
        idx = np.asarray(part["index"], dtype=np.int64)
        if idx.max() >= full_correct.shape[1] or part["correct"].shape[0] != full_correct.shape[0]:
            raise fail(
                f"the {name} leave-one-out models ({part['correct'].shape[0]} seeds, points up to "
                f"{idx.max()}) do not match the full models ({full_correct.shape[0]} seeds, "
                f"{full_correct.shape[1]} points)",
                "rerun the loo rules of this dataset: snakemake --forcerun loo_full",
            )
        s = loo_scores(
            full_correct[:, idx], full_log_odds[:, idx], part["correct"], part["log_odds"], seed, bootstrap
        )
        front = pd.DataFrame(
            {
                "index": idx,
                "path": np.asarray(path, dtype=object)[idx],
                "label": np.asarray(label, dtype=np.int64)[idx],
                "canary": np.zeros(len(idx), dtype=np.int8),  # only natural points are chosen
                "chosen": name,
                "rank": np.arange(len(idx)),
            }
        )
        tables.append(pd.concat([front, s], axis=1))
    if not tables:
        return pd.DataFrame(columns=[*COLUMNS, *score_columns()])
    return pd.concat(tables, ignore_index=True)[[*COLUMNS, *score_columns()]]
