"""The `test` threshold rule: an exact test with a stated false-discovery rate, beside Eq. 3's quantile.

A natural point is flagged when a one-sided Fisher's exact test (the hypergeometric tail of the 2 x 2 table
in/out x right/wrong) says the members that trained on it get it right more often than those that held it
out, with Benjamini–Hochberg at q over the natural points scored: of the flagged points, at most a share q
is expected to have no such effect (docs/decisions.md: An exact test with a stated error rate). The test
reads counts of correct members, so it defines one set, recorded under fz and frac; conf and lira have none.
Its power is measured on the canaries: the share of them it flags at the same cut.

fdr.csv calibrates the rule on the ensemble's own members: the member rows of the mask are permuted (one
permutation for every point, so the points' dependence through shared members stays), which leaves each
point's n_in and n_out and makes membership carry no information: every point the test flags there is a
false discovery.
"""

import math

import numpy as np
import pandas as pd
from scipy.stats import hypergeom

from memgen.errors import fail

RULE = "test"
DEFAULT_Q = 0.05
# the levels fdr.csv reports (with threshold.fdr_q), and the fake masks each is calibrated on
Q_GRID = (0.001, 0.01, 0.05, 0.1, 0.2)
CALIBRATION_DRAWS = 50
# the test reads counts of correct members: it defines one set, recorded under both count definitions
TEST_DEFINITIONS = ("fz", "frac")
STATISTIC = (
    "one-sided Fisher's exact test (hypergeometric) of in-members right more often than held-out members; "
    "Benjamini-Hochberg over the natural points scored"
)
FDR_COLUMNS = (
    "q",
    "configured",
    "min_effect",
    "n_tested",
    "n_flagged",
    "share_flagged",
    "p_cut",
    "n_canaries",
    "canary_power",
    "calib_draws",
    "calib_flagged_mean",
    "calib_flagged_max",
    "calib_share",
    "calib_any",
    "calib_mixed_fdp",
)
COUNT_COLUMNS = ("n_in", "n_out", "acc_in", "acc_out")  # of scores.csv: the 2 x 2 table of each point
_CHUNK = 8192  # points per block of the fake-mask counts: K x 8192 bools


def right_counts(scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Members right on each point among those that trained on it and those that held it out (int [N]):
    acc_in x n_in and acc_out x n_out, rounded (scores.csv keeps accuracies, which are ratios of these)."""
    missing = [c for c in COUNT_COLUMNS if c not in scores.columns]
    if missing:
        raise fail(
            f"score table lacks columns {missing} (has {list(scores.columns)})",
            "pass a scores.csv made by the scores rule (docs/artifacts.md)",
        )
    out = []
    for acc, n in (("acc_in", "n_in"), ("acc_out", "n_out")):
        right = np.nan_to_num(scores[acc].to_numpy(dtype=float)) * scores[n].to_numpy(dtype=float)
        out.append(np.rint(right).astype(np.int64))
    return out[0], out[1]


def missing_counts(scores: pd.DataFrame) -> str | None:
    """Why the test cannot run on this table (it reads both accuracies), or None."""
    missing = [c for c in COUNT_COLUMNS if c not in scores.columns]
    if not missing:
        return None
    return (
        f"memorized set undefined: the score table lacks {missing}, which the test rule reads; "
        "fix: rerun the scores rule"
    )


def one_sided_p(right_in, n_in, right_out, n_out) -> np.ndarray:
    """float [N]: P(X >= right_in) for X ~ Hypergeom(n_in + n_out members, right_in + right_out right,
    n_in drawn): Fisher's exact test, alternative "greater" (in-members right more often than held-out
    ones), given both margins. NaN where no member holds the point in or out. Computed once per distinct
    table: at a few hundred members most points share theirs."""
    tables = np.stack([np.asarray(x, dtype=np.int64).ravel() for x in (right_in, n_in, right_out, n_out)], 1)
    if not len(tables):
        return np.zeros(0)
    unique, inverse = np.unique(tables, axis=0, return_inverse=True)
    a, n1, b, n2 = unique.T
    with np.errstate(invalid="ignore"):
        p = np.clip(hypergeom.sf(a - 1, n1 + n2, a + b, n1), 0.0, 1.0)  # an ulp above 1 from float sums
    p[(n1 <= 0) | (n2 <= 0)] = np.nan
    return p[np.ravel(inverse)]


def bh_adjusted(p) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values of the finite entries of p (m = how many), NaN elsewhere:
    min over ranks j >= rank(i) of m p_(j) / j, at most 1. BH at level q flags exactly the points whose
    adjusted p is <= q (the step-up rule: all p <= p_(k), k the largest rank with p_(k) <= k q / m)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    v = p[ok]
    if not v.size:
        return out
    order = np.argsort(v, kind="stable")
    ranked = v[order] * v.size / np.arange(1, v.size + 1)
    adjusted = np.empty(v.size)
    adjusted[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    out[ok] = adjusted
    return out


def p_cut(p, adjusted, q: float) -> float:
    """The BH cut: the largest p among the points flagged at q (NaN when none is)."""
    p, adjusted = np.asarray(p, dtype=float), np.asarray(adjusted, dtype=float)
    with np.errstate(invalid="ignore"):
        hit = adjusted <= q
    return float(p[hit].max()) if hit.any() else math.nan


def effect_ok(fz, min_effect: float) -> np.ndarray:
    """bool: fz (acc_in - acc_out) reaches the stated effect size; all True at min_effect 0 (no filter)."""
    fz = np.asarray(fz, dtype=float)
    if min_effect <= 0:
        return np.ones(fz.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        return fz >= min_effect


def check_level(q, min_effect) -> None:
    if not (isinstance(q, (int, float)) and 0.0 < q < 1.0):
        raise fail(f"threshold fdr_q {q!r} is not a number strictly between 0 and 1", "set e.g. fdr_q: 0.05")
    if not (isinstance(min_effect, (int, float)) and 0.0 <= min_effect <= 1.0):
        raise fail(
            f"threshold fdr_min_effect {min_effect!r} is not a number in [0, 1]",
            "set e.g. fdr_min_effect: 0.0",
        )


def verdicts(scores: pd.DataFrame, ok: np.ndarray, q: float, min_effect: float = 0.0) -> dict:
    """The test on one ensemble's scores. ok: bool [N], the points scored (memgen.scores.thresholds.scored).

    Returns arrays [N]: p (every scored point, canaries too; NaN elsewhere), q_value (the BH-adjusted p over
    the natural points scored; NaN elsewhere), flagged (natural points with q_value <= q and fz >=
    min_effect), canary_flagged (scored canaries with p <= the cut and the effect); p_cut (NaN when nothing
    is flagged), n_tested (natural points scored), n_canaries (canaries scored).
    """
    check_level(q, min_effect)
    canary = scores["canary"].to_numpy().astype(int) == 1
    ok = np.asarray(ok, dtype=bool)
    right_in, right_out = right_counts(scores)
    n_in, n_out = scores["n_in"].to_numpy(), scores["n_out"].to_numpy()
    p = np.where(ok, one_sided_p(right_in, n_in, right_out, n_out), np.nan)
    natural = ok & ~canary
    q_value = np.where(natural, bh_adjusted(np.where(natural, p, np.nan)), np.nan)
    cut = p_cut(p, q_value, q)
    effect = effect_ok(scores["fz"].to_numpy(dtype=float), min_effect)
    with np.errstate(invalid="ignore"):
        flagged = natural & (q_value <= q) & effect
        canary_flagged = ok & canary & (p <= cut) & effect  # p <= NaN is False: none when nothing is flagged
    return {
        "p": p,
        "q_value": q_value,
        "flagged": flagged,
        "canary_flagged": canary_flagged,
        "p_cut": cut,
        "n_tested": int(natural.sum()),
        "n_canaries": int((ok & canary).sum()),
    }


def _json(x) -> float | None:
    return None if x is None or math.isnan(float(x)) else float(x)


def empty_note(v: dict, q: float, min_effect: float, min_out: int) -> str | None:
    """Why the test flags no natural point (None when it flags some)."""
    n = int(v["flagged"].sum())
    if n:
        return None
    if not v["n_tested"]:
        return f"no natural point is scored (n_in >= 1 and n_out >= {min_out}), so none can be memorized"
    if not math.isnan(v["p_cut"]):
        passed = int(np.sum(v["q_value"] <= q))
        return (
            f"the {passed} natural points the test passes at q = {q:g} all fall short of fz >= {min_effect:g}"
        )
    return (
        f"no natural point passes the test at q = {q:g} (smallest BH-adjusted p "
        f"{np.nanmin(v['q_value']):.3g} over {v['n_tested']} natural points scored)"
    )


def record(v: dict, q: float, min_effect: float, min_out: int, in_null_set: int | None) -> dict:
    """The test rule's thresholds.json entry (the same under fz and frac): the set's size and share of the
    natural points scored, the note, q, the BH cut, the effect size, the canaries flagged at the same cut
    (its power) and how many of the flagged points the null rule's set holds too (None where undefined)."""
    n = int(v["flagged"].sum())
    k = int(v["canary_flagged"].sum())
    return {
        "n_memorized": n,
        "fraction_memorized": n / v["n_tested"] if v["n_tested"] else None,
        "note": empty_note(v, q, min_effect, min_out),
        "q": float(q),
        "min_effect": float(min_effect),
        "p_cut": _json(v["p_cut"]),
        "n_tested": v["n_tested"],
        "n_canaries": v["n_canaries"],
        "n_canaries_flagged": k,
        "canary_power": k / v["n_canaries"] if v["n_canaries"] else None,
        "n_in_null_set": in_null_set,
        "definitions": list(TEST_DEFINITIONS),
        "statistic": STATISTIC,
    }


def undefined_record(note: str, q: float, min_effect: float) -> dict:
    """The entry of a definition the test does not apply to, or of an ensemble whose set is undefined."""
    return {
        "n_memorized": None,
        "fraction_memorized": None,
        "note": note,
        "q": float(q),
        "min_effect": float(min_effect),
        "p_cut": None,
        "canary_power": None,
        "definitions": list(TEST_DEFINITIONS),
        "statistic": STATISTIC,
    }


NOT_COUNTS = (
    "memorized set undefined: the test rule reads counts of correct members, so it defines one set, given "
    "under fz and frac (rules.test.fz); fix: read rules.test.fz, or use the null rule for {definition}"
)


# ---- the calibration null (fdr.csv) -------------------------------------------------------------------
def fake_right_in(mask: np.ndarray, correct: np.ndarray, perm: np.ndarray, points: np.ndarray) -> np.ndarray:
    """int [len(points)]: members right on each point among those a fake mask puts in: member k takes member
    perm[k]'s mask row, so each point keeps its n_in but its in-members are a random draw of the members."""
    out = np.empty(len(points), dtype=np.int64)
    for lo in range(0, len(points), _CHUNK):
        j = points[lo : lo + _CHUNK]
        out[lo : lo + len(j)] = (mask[:, j][perm] & correct[:, j]).sum(0)
    return out


def _draw(fake: dict, p_real: dict, min_effect: float, grid) -> tuple[list, list]:
    """One fake mask's counts (fake: a, b, n_in, n_out of the points tested): per q of grid, the points the
    test flags on it alone (every one false), and the share of fake points among those flagged when the
    real points and their fake copies are tested together."""
    a, b, n_in, n_out = fake["a"], fake["b"], fake["n_in"], fake["n_out"]
    p = one_sided_p(a, n_in, b, n_out)
    effect = effect_ok(a / np.maximum(n_in, 1) - b / np.maximum(n_out, 1), min_effect)
    alone = bh_adjusted(p)
    pooled = bh_adjusted(np.concatenate([p_real["p"], p]))
    real, copy = pooled[: len(p)], pooled[len(p) :]
    counts, fdp = [], []
    for q in grid:
        counts.append(int(((alone <= q) & effect).sum()))
        v = int(((copy <= q) & effect).sum())
        r = v + int(((real <= q) & p_real["effect"]).sum())
        fdp.append(v / r if r else 0.0)
    return counts, fdp


def calibration(mask, correct, points, p_real: dict, grid, min_effect: float, seed: int, draws: int) -> dict:
    """The test on `draws` fake masks (`fake_right_in`) of the natural points scored (`points`, int).

    p_real: {"p": the real p of these points, "effect": whether each reaches the effect size}. Returns
    arrays over grid: calib_flagged_mean and _max (points flagged on a fake mask alone: all false),
    calib_share (their mean share of the points tested), calib_any (share of fake masks with any flag: the
    realized false-discovery rate where every point is null), calib_mixed_fdp (mean share of fake points
    among those flagged when the real points and a fake copy of each are tested together: BH over both
    halves, so its false discoveries include at least these)."""
    if draws < 1:
        raise ValueError(f"calibration needs at least one fake mask, got draws = {draws}")
    mask, correct = np.asarray(mask, dtype=bool), np.asarray(correct, dtype=bool)
    points = np.asarray(points, dtype=np.int64)
    totals = correct[:, points].sum(0)
    n_in = mask[:, points].sum(0)
    rng = np.random.default_rng(seed)
    counts, fdp = np.zeros((draws, len(grid))), np.zeros((draws, len(grid)))
    for d in range(draws):
        a = fake_right_in(mask, correct, rng.permutation(len(mask)), points)
        fake = {"a": a, "b": totals - a, "n_in": n_in, "n_out": len(mask) - n_in}
        counts[d], fdp[d] = _draw(fake, p_real, min_effect, grid)
    return {
        "calib_draws": draws,
        "calib_flagged_mean": counts.mean(0),
        "calib_flagged_max": counts.max(0),
        "calib_share": counts.mean(0) / max(len(points), 1),
        "calib_any": (counts > 0).mean(0),
        "calib_mixed_fdp": fdp.mean(0),
    }


def q_grid(q: float) -> list[float]:
    """Q_GRID with the configured level, sorted."""
    return sorted({*Q_GRID, float(q)})


def fdr_table(scores, ok, mask, correct, q: float, min_effect: float, seed: int, draws=CALIBRATION_DRAWS):
    """fdr.csv (FDR_COLUMNS): per q of q_grid(q), the test's set on the real members (size, share of the
    natural points scored, the BH cut, the canaries flagged at it) and on `draws` fake masks (calibration).
    ok: bool [N], the points scored (memgen.scores.thresholds.scored); mask, correct: bool [K, N]."""
    check_level(q, min_effect)
    mask, correct = np.asarray(mask, dtype=bool), np.asarray(correct, dtype=bool)
    if mask.shape != correct.shape or mask.shape[1] != len(scores):
        raise fail(
            f"mask {mask.shape}, correctness {correct.shape}, {len(scores)} scored points: not one ensemble",
            "rerun the scores rule: snakemake --forcerun <ensemble>/scores.csv",
        )
    if not np.array_equal(mask.sum(0), scores["n_in"].to_numpy()):
        raise fail(
            "scores.csv's n_in differs from the mask's: the scores were made from another mask",
            "rerun the scores rule: snakemake --forcerun <ensemble>/scores.csv",
        )
    grid = q_grid(q)
    canary = scores["canary"].to_numpy().astype(int) == 1
    points = np.flatnonzero(np.asarray(ok, dtype=bool) & ~canary)
    rows = [verdicts(scores, ok, level, min_effect) for level in grid]
    p_real = {
        "p": rows[0]["p"][points],
        "effect": effect_ok(scores["fz"].to_numpy(dtype=float), min_effect)[points],
    }
    calib = calibration(mask, correct, points, p_real, grid, min_effect, seed, draws)
    table = pd.DataFrame(
        {
            "q": grid,
            "configured": [level == float(q) for level in grid],
            "min_effect": float(min_effect),
            "n_tested": len(points),
            "n_flagged": [int(v["flagged"].sum()) for v in rows],
            "share_flagged": [v["flagged"].sum() / len(points) if len(points) else np.nan for v in rows],
            "p_cut": [v["p_cut"] for v in rows],
            "n_canaries": rows[0]["n_canaries"],
            "canary_power": [
                v["canary_flagged"].sum() / v["n_canaries"] if v["n_canaries"] else np.nan for v in rows
            ],
            **calib,
        },
        columns=list(FDR_COLUMNS),
    )
    return table
