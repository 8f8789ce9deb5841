"""Exact leave-one-out truth on small datasets.

For a few natural points i, M models train on the whole training set and M on the training set minus i;
the leave-one-out score of i is a score definition (memgen.scores.compute) evaluated on those 2M models, with
the M full models as "in" and the M leave-i-out models as "out". Model m of both sides has seed m: the same
initial weights and the same batches, the leave-i-out one skipping i (memgen.ensemble.common.Job.holdout).
The points are two strata:

- `top`: the n_top natural points scored highest (frac, then fz, then index) by half A of the reference
  ensemble (its even-numbered members), where the reference's error matters most. The reference's own error
  on them is read from half B (odd members): ranking and reporting with the same members would report the
  winner's curse (points ranked top partly because their noise was high) as the reference's error;
- `top_b`: the same, crossed: the n_top points half B scores highest, reported with half A. The two
  directions' errors are averaged (cross-fitting, memgen.analysis.sampling_bias.loo_bias). A point in both
  top sets is trained in both strata (docs/decisions.md: Top points ranked by one half of the reference);
- `random`: the first n_random natural points of a seeded permutation of all natural points (a simple
  random sample, drawn without looking at any score, so its mean error is an unbiased estimate of the
  mean over every natural point; a point may be in both strata). Growing n_random appends points. No
  selection happens here, so the reference is compared whole (memgen.analysis.sampling_bias.loo_bias).

Each point's score depends on its own 2M models alone: lira's variances (M < 32 per side) are the reference
ensemble's, in and out, pooled once over every point as its own lira pools them (`loo_pool`). Its standard
error is the jackknife over the M seed pairs, which for fz equals the paired t-based one,
sd(full_m - loo_m) / sqrt(M); where every pair agrees (the same difference in correctness) it is floored at
the add-one se (`_floor_se`), so a point that M pairs happen to agree on is not called exact.

Each stratum is trained in jobs of POINTS_PER_JOB points (positions [first, last) of its ranking,
memgen.paths.loo_groups), so a job's points depend on its inputs and (stratum, position) alone, and a larger
n_random adds jobs.
"""

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.paths import STRATA
from memgen.scores.compute import DEFINITIONS, compute_scores, confidence_stats, pooled_variances

# Which half of the reference (0: A, even members; 1: B, odd) ranks each top stratum; the other reports it.
RANKING_HALF = {"top": 0, "top_b": 1}

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


def loo_pool(ref_mask: np.ndarray, ref_log_odds: np.ndarray) -> tuple[float, float]:
    """lira's fixed variances for leave-one-out scores, in and out: the reference ensemble's log-odds variance
    among the members holding each point in, and among those holding it out, each averaged over every point:
    the pools its own lira uses for a side of fewer than LIRA_PER_POINT_MIN members
    (memgen.scores.compute.pooled_variances). Both come from one ensemble, so a leave-one-out lira separates
    in from out on the scale every ensemble's lira reads, not a seed-only in side beside a seed-and-subset
    out side (docs/decisions.md: Each point's leave-one-out score from its own models)."""
    return pooled_variances(confidence_stats(np.asarray(ref_mask, bool), np.asarray(ref_log_odds)))


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
    (`loo_pool`). Returns per point: n_full, n_loo, acc_full, acc_loo, and per definition `<d>_loo`,
    `<d>_loo_var`: the jackknife variance over the M seed pairs (for fz exactly the paired one,
    var(full_m - loo_m) / M, unbiased; right at small M where a bootstrap's plug-in is (M-1)/M too small),
    and `<d>_loo_se`: its root, at least the add-one floor (`_floor_se`) where every pair agrees. The floor is
    one point's honest uncertainty; a mean over points subtracts the unbiased variance
    (memgen.analysis.sampling_bias)."""
    fc, lc = np.asarray(full_correct, bool), np.asarray(loo_correct, bool)
    fl, ll = np.asarray(full_log_odds, np.float32), np.asarray(loo_log_odds, np.float32)
    _check_shapes(fc, lc, fl, ll)
    s = _paired(fc, lc, fl, ll, pool)(np.arange(fc.shape[0]))
    out = {"n_full": s["n_in"], "n_loo": s["n_out"], "acc_full": s["acc_in"], "acc_loo": s["acc_out"]}
    raw = _jackknife(fc, lc, fl, ll, pool)
    se = {d: v.copy() for d, v in raw.items()}
    diff = fc.astype(np.int8) - lc.astype(np.int8)
    agree = (diff == diff[:1]).all(0) & (fc.shape[0] > 1)  # every pair the same difference in correctness
    if agree.any():
        floor = _floor_se(fc[:, agree], lc[:, agree], fl[:, agree], ll[:, agree], pool)
        for d in DEFINITIONS:
            se[d][agree] = np.where(floor[d] > se[d][agree], floor[d], se[d][agree])  # NaN stays
    for d in DEFINITIONS:
        out[f"{d}_loo"] = s[d]
        out[f"{d}_loo_se"] = np.round(se[d], 12)
        out[f"{d}_loo_var"] = np.round(raw[d] ** 2, 12)
    return pd.DataFrame(out)


def _paired(fc, lc, fl, ll, pool):
    """score(rows): every definition from the seed pairs `rows`, full models in, leave-one-out models out."""
    P = fc.shape[1]

    def score(rows):
        mask = np.concatenate([np.ones((len(rows), P), bool), np.zeros((len(rows), P), bool)])
        return compute_scores(
            mask, np.concatenate([fc[rows], lc[rows]]), np.concatenate([fl[rows], ll[rows]]), pool=pool
        )

    return score


def _jackknife(fc, lc, fl, ll, pool) -> dict:
    """Per definition [P]: the jackknife se over the M seed pairs (NaN with one pair)."""
    M, P = fc.shape
    if M < 2:
        return {d: np.full(P, np.nan) for d in DEFINITIONS}
    score = _paired(fc, lc, fl, ll, pool)
    jack = [score(np.delete(np.arange(M), m)) for m in range(M)]
    return {d: _jackknife_se(np.array([j[d] for j in jack])) for d in DEFINITIONS}


def _floor_se(fc, lc, fl, ll, pool) -> dict:
    """The add-one floor of a point every pair agrees on (docs/decisions.md: A jackknife floor where every
    pair agrees): the jackknife se over M + 1 pairs, the M observed and one pseudo-pair, an observed pair with
    one of its two models turned the other way (wrong <-> right, log-odds negated), root-mean-square over the
    2M such pseudo-pairs. For fz it is 1 / (M + 1), as if one pair in M + 1 had disagreed by one model."""
    M, P = fc.shape
    total = {d: np.zeros(P) for d in DEFINITIONS}
    for m in range(M):
        for side in (0, 1):
            c, z = [fc[m], lc[m]], [fl[m], ll[m]]
            c[side], z[side] = ~c[side], -z[side]
            se = _jackknife(
                np.vstack([fc, c[0]]),
                np.vstack([lc, c[1]]),
                np.vstack([fl, z[0]]),
                np.vstack([ll, z[1]]),
                pool,
            )
            for d in DEFINITIONS:
                total[d] += se[d] ** 2
    return {d: np.sqrt(v / (2 * M)) for d, v in total.items()}


def _jackknife_se(leave_one_out: np.ndarray) -> np.ndarray:
    """sqrt((M - 1) / M * sum_m (theta_(m) - mean)^2) per point, from the M leave-one-pair-out scores."""
    M = leave_one_out.shape[0]
    dev = leave_one_out - leave_one_out.mean(0)  # a NaN in any replicate leaves the point's se NaN
    return np.sqrt((M - 1) / M * (dev**2).sum(0))


def score_columns() -> list[str]:
    """Per definition: the leave-one-out score, its se (floored) and jackknife variance (not), and the
    score of the reference's half that did not rank the point's stratum."""
    return [c for d in DEFINITIONS for c in (f"{d}_loo", f"{d}_loo_se", f"{d}_loo_var", f"{d}_ref_half")]


def _held(ref_halves, name: str):
    """The half reporting a stratum: B for top (A ranked it) and random (as before top_b), A for top_b."""
    if ref_halves is None:
        return None
    return ref_halves[1 - RANKING_HALF.get(name, 0)]


def loo_table(strata: dict, full_correct, full_log_odds, label, path, pool: tuple, ref_halves=None):
    """loo.csv: one row per chosen point and stratum (top, top_b, then random, each in ranking order).

    strata: name -> {"index": int [P], "correct": bool [M, P], "log_odds": float [M, P]} from the
    leave-one-out jobs of that stratum; full_*: [M, N] of the full models on every training point;
    pool: lira's variances (`loo_pool`); ref_halves: the reference's halves A and B (`halves`): the one that
    did not rank a stratum writes its scores as `<d>_ref_half` (the reference's error against leave-one-out
    is read from them; B on the random points).
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
        held = _held(ref_halves, name)
        ref = {f"{d}_ref_half": np.asarray(held[d], float)[idx] if held else np.nan for d in DEFINITIONS}
        tables.append(pd.concat([front, s, pd.DataFrame(ref, index=front.index)], axis=1))
    if not tables:
        return pd.DataFrame(columns=[*COLUMNS, *score_columns()])
    return pd.concat(tables, ignore_index=True)[[*COLUMNS, *score_columns()]]
