"""Influence of training point i on test point j (Feldman & Zhang 2020, Eq. 4), from held-out-subset members:

    infl(i, j) = P[member right on j | i in its subset] - P[member right on j | i held out]

with Newcombe's hybrid score interval (95 %) for that difference of two proportions, and its continuous
variant on the label's log-odds (mean in minus mean out) with the se sqrt(var_in / n_in + var_out / n_out).

For every training point at once these are matrix products over members: with the mask M [K, N] and the
members' correctness C [K, T] on the test set, the in-sums are M^T C [N, T] and the out-sums are the column
totals minus them. At CIFAR scale N x T is 5 x 10^8 pairs, so the products run over blocks of training
points and only the pairs worth reading are kept: each test point's `top` training points and every pair
whose influence reaches `threshold`. The kept pairs' numbers are then recomputed from the members directly,
in float64, so what is reported does not depend on the block size or the float32 products used to choose.
"""

import numpy as np
import pandas as pd

from memgen.errors import fail

PAIR_COLUMNS = (
    "train",
    "test",
    "rank",
    "infl",
    "infl_lo",
    "infl_hi",
    "p_value",
    "p_adjusted",
    "infl_log_odds",
    "se_log_odds",
    "n_in",
    "n_out",
)
# Block rows such that a block's [B, T] float32 and float64 work arrays stay near 200 MB whatever T is
_BLOCK_CELLS = 2**23
# The pairs kept above `threshold` may not exceed this: a threshold near 0 would keep N x T rows
MAX_PAIRS = 10_000_000
# Ties in infl (it moves in steps of 1 / (n_in n_out)) are broken by the log-odds influence: 1e-9 x a value
# clipped to +-100 moves a key by at most 1e-7, below any step of infl for K < 6,000 members.
_TIE = 1e-9


def check_inputs(mask, correct, log_odds=None) -> None:
    """mask [K, N] and correct [K, T] (and log_odds [K, T]) must describe the same K members."""
    mask, correct = np.asarray(mask), np.asarray(correct)
    if mask.ndim != 2 or correct.ndim != 2 or mask.shape[0] != correct.shape[0]:
        raise fail(
            f"masks {mask.shape} and test correctness {correct.shape} are not [K, N] and [K, T] of the same "
            "K members",
            "pass one ensemble's masks and its members' test outputs, in mask row order",
        )
    if log_odds is not None and np.shape(log_odds) != correct.shape:
        raise fail(
            f"test log-odds {np.shape(log_odds)} and correctness {correct.shape} differ in shape",
            "read both from the same members' outputs",
        )


def _block_rows(t: int) -> int:
    return max(1, min(4096, _BLOCK_CELLS // max(t, 1)))


def _se(s_in, q_in, s_tot, q_tot, n_in, n_out):
    """sqrt(var_in / n_in + var_out / n_out) from in-sums, sums of squares and their totals (sample
    variances, ddof 1)."""
    var_in = np.maximum(q_in - s_in * s_in / n_in, 0.0) / np.maximum(n_in - 1, 1)
    var_out = np.maximum((q_tot - q_in) - (s_tot - s_in) ** 2 / n_out, 0.0) / np.maximum(n_out - 1, 1)
    return np.sqrt(var_in / n_in + var_out / n_out)


def _merge_top(best_key, best_idx, key, first, top):
    """The `top` largest keys per column of [best; key] and their training indices."""
    idx = np.broadcast_to(np.arange(first, first + len(key))[:, None], key.shape)
    keys = np.concatenate([best_key, key]) if best_key is not None else key
    rows = np.concatenate([best_idx, idx]) if best_idx is not None else idx
    if len(keys) <= top:
        return keys, rows
    part = np.argpartition(-keys, top - 1, axis=0)[:top]
    return np.take_along_axis(keys, part, 0), np.take_along_axis(rows, part, 0)


def candidate_pairs(mask, correct, log_odds=None, excluded=None, top=3, threshold=0.15):
    """(train, test) index arrays of every pair kept: per test point its `top` training points by influence
    (ties broken by the log-odds influence; only influence > 0 counts), and every pair with influence >=
    `threshold`. Training points in `excluded` and those held in or out by fewer than 2 members never
    appear. Blocked products: memory is O(B x T + K x (N + T)), never N x T."""
    check_inputs(mask, correct, log_odds)
    mask = np.asarray(mask, dtype=bool)
    k, n = mask.shape
    t = correct.shape[1]
    c = np.asarray(correct, dtype=np.float32)
    c_tot = c.sum(0, dtype=np.float64)
    lo = None if log_odds is None else np.asarray(log_odds, dtype=np.float32)
    lo_tot = None if lo is None else lo.sum(0, dtype=np.float64)
    n_in_all = mask.sum(0)
    valid = valid_training(mask, excluded)
    best_key = best_idx = None
    above_train, above_test = [], []
    n_above, step = 0, _block_rows(t)
    for first in range(0, n, step):
        m = mask[:, first : first + step].T.astype(np.float32)  # [B, K]
        n_in = n_in_all[first : first + step, None].astype(np.float64)
        s_c = m @ c  # counts, exact in float32 (K < 2^24)
        with np.errstate(divide="ignore", invalid="ignore"):  # n_in or n_out 0: invalid, set to -inf below
            infl = s_c / n_in - (c_tot - s_c) / (k - n_in)
            key = infl
            if lo is not None:
                s = (m @ lo).astype(np.float64)
                key = infl + _TIE * np.clip(s / n_in - (lo_tot - s) / (k - n_in), -100, 100)
        key[~valid[first : first + step]] = -np.inf
        hit = np.nonzero(key >= threshold - _TIE * 100)
        n_above += len(hit[0])
        if n_above > MAX_PAIRS:
            raise fail(
                f"more than {MAX_PAIRS:,} pairs reach influence.threshold = {threshold}",
                "raise influence.threshold (Feldman & Zhang use 0.15)",
            )
        above_train.append(hit[0] + first)
        above_test.append(hit[1])
        if top > 0:
            best_key, best_idx = _merge_top(best_key, best_idx, np.where(key > 0, key, -np.inf), first, top)
    train = [np.concatenate(above_train)] if above_train else []
    test = [np.concatenate(above_test)] if above_test else []
    if best_key is not None:
        keep = np.isfinite(best_key)
        train.append(best_idx[keep])
        test.append(np.broadcast_to(np.arange(t), best_key.shape)[keep])
    if not train:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pairs = np.unique(np.stack([np.concatenate(test), np.concatenate(train)], 1).astype(np.int64), axis=0)
    return pairs[:, 1], pairs[:, 0]


def pair_stats(mask, correct, log_odds, train, test, chunk: int = 4096) -> dict:
    """infl with its Newcombe interval (infl_lo, infl_hi), infl_log_odds, se_log_odds (NaN without
    log-odds), n_in, n_out, and the member counts the exact test reads (correct_in: right among the n_in
    members holding the training point; correct_total: right among all K), of the given pairs, from the
    members directly in float64: what influence.csv reports."""
    mask = np.asarray(mask, dtype=bool)
    k = mask.shape[0]
    names = ("infl", "infl_log_odds", "se_log_odds", "correct_in", "correct_total")
    out = {name: np.empty(len(train)) for name in names}
    n_in = mask[:, train].sum(0)
    for a in range(0, len(train), chunk):
        i, j, part = train[a : a + chunk], test[a : a + chunk], slice(a, a + chunk)
        m = mask[:, i]
        ni = n_in[part].astype(np.float64)
        v = np.asarray(correct)[:, j].astype(np.float64)
        out["correct_in"][part], out["correct_total"][part] = (v * m).sum(0), v.sum(0)
        out["infl"][part] = out["correct_in"][part] / ni - (
            out["correct_total"][part] - out["correct_in"][part]
        ) / (k - ni)
        if log_odds is None:
            out["infl_log_odds"][part] = out["se_log_odds"][part] = np.nan
            continue
        out["infl_log_odds"][part], out["se_log_odds"][part] = _mean_difference(
            np.asarray(log_odds)[:, j].astype(np.float64), m, ni, k
        )
    n_out = k - n_in
    lo, hi = newcombe(out["correct_in"], n_in, out["correct_total"] - out["correct_in"], n_out)
    return out | {
        "infl_lo": lo,
        "infl_hi": hi,
        "n_in": n_in.astype(np.int64),
        "n_out": n_out.astype(np.int64),
    }


def _mean_difference(v, m, ni, k):
    """Mean of v [K, P] over the members in m minus over the others, and its se (sample variances)."""
    s_in, s_tot = (v * m).sum(0), v.sum(0)
    # the spread from values centred per test point: no cancellation when log-odds sit far from 0
    cv = v - s_tot / k
    se = _se((cv * m).sum(0), (cv * cv * m).sum(0), 0.0, (cv * cv).sum(0), ni, k - ni)
    return s_in / ni - (s_tot - s_in) / (k - ni), se


# 95 % two-sided intervals: Newcombe's hybrid score interval for a difference of proportions
Z95 = 1.959963984540054


def wilson(x, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval of the proportion x / n (0 and 1 included; n >= 1)."""
    x, n = np.asarray(x, dtype=np.float64), np.asarray(n, dtype=np.float64)
    p, z2 = x / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def newcombe(x1, n1, x2, n2, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval (his method 10) of x1/n1 - x2/n2 from the two Wilson intervals.
    Unlike the Wald se it does not collapse at 0 or n: 0 of 12 held-out members right is up to 0.24."""
    x1, n1, x2, n2 = (np.asarray(a, dtype=np.float64) for a in (x1, n1, x2, n2))
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def influence_pairs(mask, correct, log_odds=None, excluded=None, top=3, threshold=0.15) -> pd.DataFrame:
    """The kept pairs (PAIR_COLUMNS), sorted by test point then rank (1 = the training point it leans on
    most: highest infl, then highest log-odds influence)."""
    if top < 0 or not np.isfinite(threshold):
        raise fail(f"influence top = {top}, threshold = {threshold}", "use top >= 0 and a finite threshold")
    correct = np.asarray(correct, dtype=bool)
    train, test = candidate_pairs(mask, correct, log_odds, excluded, top, threshold)
    stats = pair_stats(mask, correct, log_odds, train, test)
    k = len(correct)
    p = exact_p(stats.pop("correct_in"), stats.pop("correct_total"), stats["n_in"], k)
    m = tested_pairs(mask, correct, excluded)
    df = pd.DataFrame({"train": train, "test": test, **stats, "p_value": p, "p_adjusted": adjusted(p, m)})
    tie = df["infl_log_odds"].fillna(0.0)
    df = df.assign(_tie=tie).sort_values(
        ["test", "infl", "_tie", "train"], ascending=[True, False, False, True]
    )
    # a top candidate chosen for infl > 0 whose exact infl is not > 0 (float32 noise) or a threshold
    # candidate below the threshold is dropped: the set is the exact one
    df["rank"] = df.groupby("test").cumcount() + 1
    keep = ((df["rank"] <= top) & (df["infl"] > 0)) | (df["infl"] >= threshold)
    df = df[keep].drop(columns="_tie")
    df["rank"] = df.groupby("test").cumcount() + 1
    return df[list(PAIR_COLUMNS)].reset_index(drop=True)


def exact_p(correct_in, correct_total, n_in, k: int) -> np.ndarray:
    """One-sided exact p of each pair: with c of the K members right on the test point, the chance that
    n_in members drawn at random hold at least correct_in of them (hypergeometric; Fisher's exact test of
    membership against correctness). Exact where 12 held-out members make a normal se unreliable."""
    from scipy.stats import hypergeom

    return hypergeom.sf(np.asarray(correct_in) - 1, k, np.asarray(correct_total), np.asarray(n_in))


def valid_training(mask, excluded=None) -> np.ndarray:
    """bool [N]: training points held in and out by at least 2 members each and not `excluded` (canaries):
    the ones whose influence is measured (candidate_pairs, tested_pairs)."""
    mask = np.asarray(mask, dtype=bool)
    n_in = mask.sum(0)
    valid = (n_in >= 2) & (len(mask) - n_in >= 2)
    if excluded is not None:
        valid &= ~np.asarray(excluded, dtype=bool)
    return valid


def contested(correct) -> np.ndarray:
    """bool [T]: test points some members get right and some wrong; on the others every influence is 0."""
    right = np.asarray(correct, dtype=bool).sum(0)
    return (right > 0) & (right < len(correct))


def tested_pairs(mask, correct, excluded=None) -> int:
    """How many pairs could show influence: valid training points times contested test points. The
    Bonferroni family of high_influence."""
    return int(valid_training(mask, excluded).sum()) * int(contested(correct).sum())


def adjusted(p, family: int) -> np.ndarray:
    """Bonferroni: p x family, capped at 1."""
    return np.minimum(np.asarray(p, dtype=np.float64) * family, 1.0)


def flagged(infl, p_adjusted, threshold: float, alpha: float) -> np.ndarray:
    """bool: infl >= threshold and p_adjusted <= alpha (alpha 1: the threshold alone, as Feldman & Zhang)."""
    return (np.asarray(infl, dtype=float) >= threshold) & (np.asarray(p_adjusted, dtype=float) <= alpha)


def high_influence(pairs: pd.DataFrame, threshold: float, alpha: float) -> np.ndarray:
    """bool per pair: infl >= threshold (Feldman & Zhang's 0.15) and its exact p, Bonferroni-adjusted over
    every pair tested (`p_adjusted`), <= alpha: with ~10^5 pairs tested on digits, a 0.15 reached by the
    luck of 12 held-out members is common (docs/decisions.md: High-influence pairs)."""
    return flagged(pairs["infl"], pairs["p_adjusted"], threshold, alpha)


def min_flaggable(n_in: int, n_out: int, family: int, alpha: float, threshold: float) -> float:
    """The smallest influence a pair held in by n_in and out by n_out members can have and still be flagged
    (`flagged`, its exact p adjusted over `family` pairs), over every table it can show: a of the n_in
    right, b of the n_out right, infl = a / n_in - b / n_out. NaN when no table passes. This is the real
    bar of a high-influence pair: with 12 held-out members and ~10^5 pairs it sits far above 0.15."""
    if n_in < 1 or n_out < 1:
        return float("nan")
    a = np.arange(n_in + 1, dtype=np.float64)[:, None]
    b = np.arange(n_out + 1, dtype=np.float64)[None, :]
    infl = a / n_in - b / n_out  # the arithmetic of pair_stats, so a pair at the bar compares equal
    p = exact_p(a, a + b, n_in, n_in + n_out)
    ok = flagged(infl, adjusted(p, max(int(family), 1)), threshold, alpha)
    return float(infl[ok].min()) if ok.any() else float("nan")
