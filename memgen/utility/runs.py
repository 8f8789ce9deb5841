"""Marginal utility of removed points: test accuracy of utility runs, paired by seed.

A utility run is a model trained on the full training set (true labels) minus a removal set.
Seed s of the "memorized removed" condition is paired with seed s of "random removed" and of "random_class
removed" (same initialisation and data order), so the per-seed difference is what the statistics use.
"""

import numpy as np
import pandas as pd

from memgen.errors import fail

UTILITY_COLUMNS = (
    "seed",
    "acc_memorized",
    "acc_random",
    "diff_pp",
    "acc_random_class",
    "diff_class_pp",
    "test_set",
    "n_removed",
)


def accuracy(pred: np.ndarray, labels: np.ndarray, keep: np.ndarray | None = None) -> float:
    """Fraction of test points whose predicted class (`pred` [N], a run's compact outputs) is the label;
    `keep` (bool mask [N] or index array) restricts it to a test subset, e.g. the de-duplicated test set."""
    pred = np.asarray(pred)
    labels = np.asarray(labels).ravel()
    if pred.ndim != 1 or pred.shape != labels.shape:
        raise fail(
            f"predictions {pred.shape} and labels {labels.shape} do not match (expected [N] and [N])",
            "pass the predicted classes and labels of the same test set",
        )
    correct = pred == labels
    if keep is not None:
        keep = np.asarray(keep)
        if keep.dtype == bool and keep.shape != labels.shape:
            raise fail(
                f"test-set mask has shape {keep.shape}, test set has {labels.shape[0]} points",
                "build the mask with dedup_keep(n_test, ...) for this test set",
            )
        correct = correct[keep]
    if correct.size == 0:
        raise fail("accuracy over an empty test set", "check the de-duplication list: it removes every point")
    return float(correct.mean())


def dedup_keep(n_test: int, duplicates: pd.DataFrame) -> np.ndarray:
    """Bool mask [n_test]: True for test points NOT listed (TestID) as duplicates of training points."""
    if "TestID" not in duplicates.columns:
        raise fail(
            f"duplicate list has columns {list(duplicates.columns)}, no 'TestID'",
            "use the ciFAIR format: TestID,TrainID,Distance,Judgment",
        )
    ids = duplicates["TestID"].to_numpy(dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= n_test):
        raise fail(
            f"duplicate list names test points outside [0, {n_test}) (max TestID {ids.max()})",
            "use the duplicate list made for this dataset's test set",
        )
    keep = np.ones(n_test, dtype=bool)
    keep[ids] = False
    return keep


def _pairs(acc_memorized: dict, control: dict, name: str) -> None:
    seeds_m, seeds_r = set(acc_memorized), set(control)
    if seeds_m != seeds_r:
        raise fail(
            f"utility seeds do not pair: only after memorized removal {sorted(seeds_m - seeds_r)}, "
            f"only after {name} removal {sorted(seeds_r - seeds_m)}",
            "run every condition for the same seeds (seed s of one pairs with seed s of the other)",
        )


def utility_frame(
    acc_memorized: dict[int, float],
    acc_random: dict[int, float],
    n_removed: int,
    test_set: str,
    acc_random_class: dict[int, float] | None = None,
) -> pd.DataFrame:
    """One row per seed: accuracies after memorized vs random removal (in %), their difference (pp), and
    the class-matched control's accuracy and difference (NaN when `acc_random_class` is None).

    Inputs are fractions in [0, 1] keyed by seed; rows are paired by seed key, never by position,
    and sorted by seed.
    """
    _pairs(acc_memorized, acc_random, "random")
    if acc_random_class is not None:
        _pairs(acc_memorized, acc_random_class, "class-matched")
    seeds = sorted(int(s) for s in acc_memorized)
    mem = np.array([acc_memorized[s] for s in seeds], dtype=float)
    rnd = np.array([acc_random[s] for s in seeds], dtype=float)
    cls = np.array([acc_random_class[s] for s in seeds] if acc_random_class else [], dtype=float)
    both = np.concatenate([mem, rnd, cls])
    if both.size and (np.isnan(both).any() or both.min() < 0 or both.max() > 1):
        raise fail(
            "utility accuracies must be fractions in [0, 1]", "pass accuracy() values, not percentages"
        )
    return pd.DataFrame(
        {
            "seed": np.array(seeds, dtype=np.int64),
            "acc_memorized": 100.0 * mem,
            "acc_random": 100.0 * rnd,
            "diff_pp": 100.0 * (mem - rnd),
            "acc_random_class": 100.0 * cls if cls.size else np.full(len(seeds), np.nan),
            "diff_class_pp": 100.0 * (mem - cls) if cls.size else np.full(len(seeds), np.nan),
            "test_set": [test_set] * len(seeds),
            "n_removed": np.full(len(seeds), int(n_removed), dtype=np.int64),
        }
    )
