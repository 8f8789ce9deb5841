"""Exact leave-one-out truth on small datasets.

For a few natural points i, M models train on the whole training set and M on the training set minus i;
the leave-one-out score of i is a score definition (memgen.scores.compute) evaluated on those 2M models, with
the M full models as "in" and the M leave-i-out models as "out". Model m of both sides has seed m: the same
initial weights and the same batches, the leave-i-out one skipping i (memgen.ensemble.train.Job.holdout).
The points are two strata:

- `top`: the n_top natural points scored highest (frac, then fz, then index) by half A of the reference
  ensemble (its even-numbered members), where the reference's error matters most. The reference's own error
  on them is read from half B (odd members): ranking and reporting with the same members would report the
  winner's curse (points ranked top partly because their noise was high) as the reference's error;
- `random`: the first n_random natural points of a seeded permutation of all natural points (a simple
  random sample, drawn without looking at any score, so its mean error is an unbiased estimate of the
  mean over every natural point; a point may be in both strata). Growing n_random appends points.

Each point's score depends on its own 2M models alone: lira's variances (M < 32 per side) are pooled once,
in from every full model on every point, out from the reference ensemble's held-out members
(`loo_pool`). Its standard error is the jackknife over the M seed pairs, which for fz equals the paired
t-based one, sd(full_m - loo_m) / sqrt(M).

Each stratum is trained in jobs of POINTS_PER_JOB points (positions [first, last) of its ranking,
memgen.paths.loo_groups), so a job's points depend on its inputs and (stratum, position) alone, and a larger
n_random adds jobs.
"""

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.paths import STRATA
from memgen.scores.compute import DEFINITIONS, compute_scores, confidence_stats, pooled_variances

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


def halves(mask: np.ndarray, correct: np.ndarray, log_odds: np.ndarray | None = None) -> tuple[dict, dict]:
    """Scores of every point from half A (even-numbered members) and half B (odd) of an ensemble: A ranks
    the top points, B reports the ensemble's error on them, so selection noise does not count as error."""
    mask, correct = np.asarray(mask, bool), np.asarray(correct, bool)
    if mask.shape[0] < 2:
        raise fail(
            f"the reference ensemble has {mask.shape[0]} member(s); leave-one-out needs two halves of it",
            "give the reference ensemble (analysis.reference) at least 2 members",
        )
    out = []
    for half in (slice(0, None, 2), slice(1, None, 2)):
        lo = None if log_odds is None else np.asarray(log_odds)[half]
        out.append(compute_scores(mask[half], correct[half], lo))
    return out[0], out[1]


def top_ranking(scores) -> np.ndarray:
    """Natural points by frac (Eq. 2), highest first; ties by fz, then by index (so the ranking is the same
    on every machine). Points without a score (NaN) come never. scores: a table or dict of columns."""
    scores = pd.DataFrame(scores) if isinstance(scores, dict) else scores
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


def loo_pool(
    full_log_odds: np.ndarray, ref_mask: np.ndarray, ref_log_odds: np.ndarray
) -> tuple[float, float]:
    """lira's fixed variances for leave-one-out scores: in, the M full models' log-odds variance per point
    averaged over every point; out, the reference ensemble's held-out variance pooled the same way (its own
    lira uses that pool too, so the two are comparable)."""
    full = np.asarray(full_log_odds)
    var_in, _ = pooled_variances(confidence_stats(np.ones(full.shape, bool), full))
    _, var_out = pooled_variances(confidence_stats(np.asarray(ref_mask, bool), np.asarray(ref_log_odds)))
    return var_in, var_out


def _check_shapes(fc, lc, fl, ll) -> None:
    if not fc.shape == lc.shape == fl.shape == ll.shape or fc.ndim != 2:
        raise fail(
            f"full models' outputs {fc.shape}/{fl.shape} and leave-one-out models' {lc.shape}/{ll.shape} "
            "must all be [seeds, points]",
            "rerun the loo rules of this dataset: snakemake --forcerun loo",
        )


def loo_scores(full_correct, full_log_odds, loo_correct, loo_log_odds, pool: tuple) -> pd.DataFrame:
    """Leave-one-out scores of P points from paired models, each point from its own columns alone.

    full_*: [M, P], the M full models on the P points; loo_*: [M, P], column j from the M models trained
    without point j (seed m of both: same initial weights, same batches but j). pool: lira's variances
    (`loo_pool`). Returns per point: n_full, n_loo, acc_full, acc_loo, and per definition `<d>_loo` and
    `<d>_loo_se`: the jackknife standard error over the M seed pairs (for fz exactly the paired one,
    sd(full_m - loo_m) / sqrt(M), right at small M where a bootstrap's plug-in se is sqrt((M-1)/M) too small).
    """
    fc, lc = np.asarray(full_correct, bool), np.asarray(loo_correct, bool)
    fl, ll = np.asarray(full_log_odds, np.float32), np.asarray(loo_log_odds, np.float32)
    _check_shapes(fc, lc, fl, ll)
    M, P = fc.shape

    def score(rows):
        mask = np.concatenate([np.ones((len(rows), P), bool), np.zeros((len(rows), P), bool)])
        return compute_scores(
            mask, np.concatenate([fc[rows], lc[rows]]), np.concatenate([fl[rows], ll[rows]]), pool=pool
        )

    s = score(np.arange(M))
    out = {"n_full": s["n_in"], "n_loo": s["n_out"], "acc_full": s["acc_in"], "acc_loo": s["acc_out"]}
    jack = [score(np.delete(np.arange(M), m)) for m in range(M)] if M > 1 else []
    for d in DEFINITIONS:
        out[f"{d}_loo"] = s[d]
        out[f"{d}_loo_se"] = np.round(_jackknife_se(np.array([j[d] for j in jack]) if jack else None, P), 12)
    return pd.DataFrame(out)


def _jackknife_se(leave_one_out: np.ndarray | None, P: int) -> np.ndarray:
    """sqrt((M - 1) / M * sum_m (theta_(m) - mean)^2) per point, from the M leave-one-pair-out scores."""
    if leave_one_out is None:
        return np.full(P, np.nan)
    M = leave_one_out.shape[0]
    dev = leave_one_out - leave_one_out.mean(0)  # a NaN in any replicate leaves the point's se NaN
    return np.sqrt((M - 1) / M * (dev**2).sum(0))


def score_columns() -> list[str]:
    """Per definition: the leave-one-out score, its jackknife se, and the reference's half-B score."""
    return [c for d in DEFINITIONS for c in (f"{d}_loo", f"{d}_loo_se", f"{d}_ref_half")]


def loo_table(strata: dict, full_correct, full_log_odds, label, path, pool: tuple, held: dict | None = None):
    """loo.csv: one row per chosen point and stratum (top first, then random, each in ranking order).

    strata: name -> {"index": int [P], "correct": bool [M, P], "log_odds": float [M, P]} from the
    leave-one-out jobs of that stratum; full_*: [M, N] of the full models on every training point;
    pool: lira's variances (`loo_pool`); held: half B of the reference (`halves`), whose scores on each
    point are written as `<d>_ref_half` (the reference's error against leave-one-out is read from them).
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
        s = loo_scores(full_correct[:, idx], full_log_odds[:, idx], part["correct"], part["log_odds"], pool)
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
        ref = {f"{d}_ref_half": np.asarray(held[d], float)[idx] if held else np.nan for d in DEFINITIONS}
        tables.append(pd.concat([front, s, pd.DataFrame(ref, index=front.index)], axis=1))
    if not tables:
        return pd.DataFrame(columns=[*COLUMNS, *score_columns()])
    return pd.concat(tables, ignore_index=True)[[*COLUMNS, *score_columns()]]
