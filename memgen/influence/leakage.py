"""Leakage seen two ways: the high-influence pairs against the duplicate detector's pairs, and Table 3's
memorized-vs-random difference on the test points with and without a high-influence memorized partner.

Feldman & Zhang argued that a memorized training point helps because it lifts its near-twin in the test set;
if that is leakage, the harm of removing memorized points sits in the test points that have such a partner,
and the rest of the test set shows the answer without it.
"""

import numpy as np
import pandas as pd

DUPLICATE_COLUMNS = (
    "source",
    "pairs",
    "test_points",
    "found_pair",
    "found_pair_share",
    "found_test_point",
    "found_test_point_share",
    "note",
)
PARTS = ("all", "with_partner", "without_partner")


def _share(k: int, n: int) -> float:
    return k / n if n else float("nan")


def against_duplicates(pairs: pd.DataFrame, high: np.ndarray, duplicates: pd.DataFrame) -> pd.DataFrame:
    """Two rows, one per source (the high-influence pairs; the detector's pairs): how many pairs and test
    points each has, how many of its pairs the other lists exactly (same training and test point), and how
    many of its pairs' test points the other pairs with any training point. The detector's row notes how
    many of its pairs influence.csv keeps at all (a test point's top or above the threshold), and their
    median influence."""
    hi = pairs[np.asarray(high, dtype=bool)]
    hi_pairs = set(zip(hi["train"], hi["test"], strict=True))
    dup_pairs = set(zip(duplicates["TrainID"], duplicates["TestID"], strict=True))
    hi_tests, dup_tests = set(hi["test"]), set(duplicates["TestID"])
    kept = pairs.set_index(["train", "test"])["infl"]
    in_csv = [kept[p] for p in dup_pairs if p in kept.index]
    median = f", median influence {np.median(in_csv):.2f}" if in_csv else ""
    rows = []
    for source, mine, tests, other, other_tests, note in (
        ("high-influence pairs", hi_pairs, hi_tests, dup_pairs, dup_tests, ""),
        (
            "duplicate detector pairs",
            dup_pairs,
            dup_tests,
            hi_pairs,
            hi_tests,
            f"{len(in_csv)} of {len(dup_pairs)} kept in influence.csv{median}",
        ),
    ):
        found = sum(p in other for p in mine)
        found_test = sum(p[1] in other_tests for p in mine)
        rows.append(
            {
                "source": source,
                "pairs": len(mine),
                "test_points": len(tests),
                "found_pair": found,
                "found_pair_share": _share(found, len(mine)),
                "found_test_point": found_test,
                "found_test_point_share": _share(found_test, len(mine)),
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=list(DUPLICATE_COLUMNS))


def with_partner(pairs: pd.DataFrame, high: np.ndarray, memorized: np.ndarray, n_test: int) -> np.ndarray:
    """bool [n_test]: test points paired by a high-influence pair with a training point of `memorized`."""
    hi = pairs[np.asarray(high, dtype=bool)]
    hit = hi["test"][hi["train"].isin(np.asarray(memorized))].to_numpy(np.int64)
    out = np.zeros(n_test, dtype=bool)
    out[hit] = True
    return out


def parts(base: np.ndarray, partner: np.ndarray) -> dict[str, np.ndarray]:
    """The test points of each part (PARTS) within `base` (bool [n_test]: the test set's points)."""
    return dict(zip(PARTS, (base, base & partner, base & ~partner), strict=True))
