"""Leakage seen two ways: the high-influence pairs against the duplicate detector's pairs, and Table 3's
memorized-vs-random difference on the test points with and without a high-influence memorized partner.

Feldman & Zhang argued that a memorized training point helps because it lifts its near-twin in the test set;
if that is leakage, the harm of removing memorized points sits in the test points that have such a partner,
and the rest of the test set shows the answer without it. Two guards keep that reading honest
(docs/decisions.md: Cross-fitted leakage split): the partner flag is measured on members that did not choose
the memorized set, and the with-partner points are held against without-partner points of the same
difficulty, since a test point with a partner is by construction one the members disagree on.
"""

import numpy as np
import pandas as pd

DUPLICATE_COLUMNS = (
    "source",
    "pairs",
    "contested_pairs",
    "test_points",
    "contested_test_points",
    "found_pair",
    "found_pair_share",
    "found_test_point",
    "found_test_point_share",
    "median_infl",
    "median_infl_contested",
    "note",
)
PARTS = ("all", "with_partner", "without_partner", "matched_control")
# Difficulty strata of the matched control: the influence ensemble's share of members right on a test point,
# in tenths (0 < share < 1), with never-right and always-right points in strata of their own
STRATA = 10


def _share(k: int, n: int) -> float:
    return k / n if n else float("nan")


def _median(x) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.median(x)) if x.size else float("nan")


def detector_pairs(duplicates: pd.DataFrame, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The detector's distinct (train, test) pairs whose training point influence measures (`valid`:
    natural, held in and out by >= 2 members; memgen.influence.compute.valid_training), and how many
    distinct pairs were left out for naming another training point (a canary): both sides then search the
    same training points."""
    pairs = np.unique(duplicates[["TrainID", "TestID"]].to_numpy(np.int64).reshape(-1, 2), axis=0)
    valid = np.asarray(valid, dtype=bool)
    keep = (pairs[:, 0] < len(valid)) & valid[np.minimum(pairs[:, 0], len(valid) - 1)]
    return pairs[keep, 0], pairs[keep, 1], int((~keep).sum())


def _source_row(source, pairs: pd.DataFrame, other: pd.DataFrame, contested: np.ndarray, note: str) -> dict:
    """One row of against_duplicates: `pairs` (train, test, infl) seen from `other` (train, test)."""
    on = contested[pairs["test"].to_numpy(np.int64)]
    mine = set(zip(pairs["train"], pairs["test"], strict=True))
    theirs = set(zip(other["train"], other["test"], strict=True))
    tests = set(pairs["test"])
    contested_tests = {t for t in tests if contested[t]}
    found = sum(p in theirs for p in mine)
    found_test = len(tests & set(other["test"]))  # test points, not pairs
    return {
        "source": source,
        "pairs": len(mine),
        "contested_pairs": int(on.sum()),
        "test_points": len(tests),
        "contested_test_points": len(contested_tests),
        "found_pair": found,
        "found_pair_share": _share(found, int(on.sum())),
        "found_test_point": found_test,
        "found_test_point_share": _share(found_test, len(contested_tests)),
        "median_infl": _median(pairs["infl"]),
        "median_infl_contested": _median(pairs["infl"][on]),
        "note": note,
    }


def against_duplicates(high: pd.DataFrame, detector: pd.DataFrame, contested, note: str = "") -> pd.DataFrame:
    """Two rows (DUPLICATE_COLUMNS), the high-influence pairs and the detector's, both over the same
    training points (`detector` as detector_pairs keeps it) and each with its influence (`infl`: the
    detector's pairs scored by memgen.influence.compute.pair_stats, kept in influence.csv or not).

    Per source: its pairs, those on contested test points (some members right, some wrong: elsewhere every
    influence is 0 and no pair can be high), its test points and contested test points, how many of its
    pairs the other lists exactly (share of its contested pairs), how many of its test points the other
    pairs with any training point (share of its contested test points: the recall a reader compares), and
    the median influence over all its pairs and over its contested ones. `note` goes on the detector's row.
    """
    contested = np.asarray(contested, dtype=bool)
    return pd.DataFrame(
        [
            _source_row("high-influence pairs", high, detector, contested, ""),
            _source_row("duplicate detector pairs", detector, high, contested, note),
        ],
        columns=list(DUPLICATE_COLUMNS),
    )


def strongest_pairs(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The n pairs with the highest influence. Ties (infl moves in steps of 1 / (n_in n_out)) go to the
    higher log-odds influence, then the lower test and training index: never to the narrower interval, which
    would favour pairs whose counts sit at 0 or n_out, where the interval is least trustworthy."""
    key = table.assign(_tie=table["infl_log_odds"].fillna(-np.inf))
    return (
        key.sort_values(
            ["infl", "_tie", "test_index", "train_index"], ascending=[False, False, True, True], kind="stable"
        )
        .drop(columns="_tie")
        .head(n)
    )


def with_partner(pairs: pd.DataFrame, flag: np.ndarray, memorized: np.ndarray, n_test: int) -> np.ndarray:
    """bool [n_test]: test points paired by a flagged pair with a training point of `memorized`."""
    hi = pairs[np.asarray(flag, dtype=bool)]
    hit = hi["test"][hi["train"].isin(np.asarray(memorized))].to_numpy(np.int64)
    out = np.zeros(n_test, dtype=bool)
    out[hit] = True
    return out


def split_family(memorized, unmeasured, n_contested: int) -> int:
    """Pairs the split's partner flag tests: memorized training points whose influence is measured (not in
    `unmeasured`) times contested test points. The question is "does a removed point lift a test point", so
    the Bonferroni family is those pairs, not every pair of the training set."""
    memorized = np.unique(np.asarray(memorized, dtype=np.int64))
    return int((~np.isin(memorized, np.asarray(unmeasured, dtype=np.int64))).sum()) * int(n_contested)


def parts(base: np.ndarray, partner: np.ndarray) -> dict[str, np.ndarray]:
    """The test points of the additive parts (all, with_partner, without_partner) within `base` (bool
    [n_test]: the test set's points); with and without add up to all."""
    return dict(zip(PARTS[:3], (base, base & partner, base & ~partner), strict=True))


def strata(right, members: int) -> np.ndarray:
    """int [n_test]: each test point's difficulty stratum from how many of `members` get it right: -1 never
    right, STRATA always right, else floor(STRATA x share)."""
    share = np.asarray(right, dtype=np.float64) / members
    inner = np.minimum(np.floor(share * STRATA), STRATA - 1).astype(np.int64)
    return np.where(share <= 0, -1, np.where(share >= 1, STRATA, inner))


def matched_control(base, partner, stratum) -> tuple[np.ndarray, int]:
    """Weights [n_test] (summing to 1) of the without-partner points of `base` that stand in for the
    with-partner ones at their difficulty: in each stratum the with-partner points' share, spread evenly over
    that stratum's controls (direct standardisation, no random draw). Also how many with-partner points sit in
    a stratum without any control (left out of the standardisation). All zero without a matched point."""
    base, partner, stratum = (np.asarray(a) for a in (base, partner, stratum))
    treated, controls = base & partner, base & ~partner
    weight = np.zeros(len(base))
    unmatched = 0
    for s in np.unique(stratum[treated]):
        pool = controls & (stratum == s)
        n = int((treated & (stratum == s)).sum())
        if pool.any():
            weight[pool] = n / pool.sum()
        else:
            unmatched += n
    total = weight.sum()
    return (weight / total if total else weight), unmatched


def contributions(n: dict, diff: dict) -> dict:
    """Each additive part's share of the total difference, in pp: n_part x diff_part / n_all. With and
    without add up to all (accuracy on all is the n-weighted mean of the two parts, seed by seed)."""
    if not n["all"]:
        return dict.fromkeys(PARTS[:3], float("nan"))
    return {p: n[p] * diff[p] / n["all"] if n[p] else 0.0 for p in PARTS[:3]}
