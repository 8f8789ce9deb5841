"""Synthetic utility tables for the table tests: a utility table and its per-test-point outcomes (the .npz
write_utility writes beside it, memgen/utility/jobs.py), from chosen per-seed differences."""

import numpy as np
import pandas as pd

from memgen.io import save_csv
from memgen.utility.runs import utility_frame

CONDITIONS = ("memorized", "random", "random_class")


def outcomes(diffs, n=100, base=80, class_diffs=None, keep=None, removal="r", test_set="original") -> dict:
    """read_points()-like outcomes of len(diffs) seeds on n test points: the controls right on the first
    `base` points (class-matched on the first base + diffs − class_diffs), memorized on the first base + d_s
    (d_s integers, percentage points of n = 100)."""
    m = len(diffs)
    first = np.arange(n)[None, :]
    mem = first < (base + np.asarray(diffs, dtype=int))[:, None]
    rnd = np.broadcast_to(first < base, (m, n)).copy()
    cls = (
        rnd if class_diffs is None else first < (base + np.subtract(diffs, class_diffs).astype(int))[:, None]
    )
    keep = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    return {
        "seed": np.arange(m),
        "labels": np.arange(n) % 10,
        "keep": keep,
        "points": "original",
        "test_set": test_set,
        "removal": removal,
        "correct": {"memorized": mem, "random": rnd, "random_class": np.asarray(cls)},
    }


def from_points(o: dict, n_removed: int = 10):
    """The utility table of outcomes o, as write_utility computes it."""
    keep = o["keep"]
    acc = {c: x[:, keep].mean(axis=1) for c, x in o["correct"].items()}
    df = utility_frame(
        dict(enumerate(acc["memorized"])), dict(enumerate(acc["random"])), n_removed, o["test_set"]
    )
    df["acc_random_class"] = 100.0 * acc["random_class"]  # as utility_frame's class-matched columns
    df["diff_class_pp"] = 100.0 * (acc["memorized"] - acc["random_class"])
    return df


def write_utility_files(path, diffs, n_removed=5, reason="nothing reaches τ", **kw) -> str:
    """results/.../utility/{variant}.csv and .npz: `diffs` None writes an empty memorized set."""
    path.parent.mkdir(parents=True, exist_ok=True)
    npz = path.with_suffix(".npz")
    if diffs is None:
        pd.DataFrame(
            {"seed": [None], "acc_memorized": [None], "acc_random": [None], "diff_pp": [None]}
            | {
                "acc_random_class": [None],
                "diff_class_pp": [None],
                "test_set": [kw.get("test_set", "original")],
            }
            | {"n_removed": [0], "n_test": [None], "note": [reason]}
        ).to_csv(path, index=False)
        empty = np.zeros((0, 0), bool)
        np.savez(npz, seed=np.zeros(0, np.int64), labels=np.zeros(0, np.int64), keep=np.zeros(0, bool),
                 points="", test_set="original", removal=kw.get("removal", "r"),
                 **{f"correct_{c}": empty for c in CONDITIONS})  # fmt: skip
        return path
    o = outcomes(diffs, **kw)
    keep = o["keep"]
    acc = {c: {s: float(x[s, keep].mean()) for s in range(len(diffs))} for c, x in o["correct"].items()}
    df = utility_frame(acc["memorized"], acc["random"], n_removed, o["test_set"], acc["random_class"])
    df["n_test"], df["note"] = int(keep.sum()), ""
    save_csv(path, df)
    np.savez(
        npz,
        seed=o["seed"],
        labels=o["labels"],
        keep=keep,
        points=o["points"],
        test_set=o["test_set"],
        removal=o["removal"],
        **{f"correct_{c}": x for c, x in o["correct"].items()},
    )
    return path
