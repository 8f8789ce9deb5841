"""Test points that (nearly) duplicate training points: read published lists, or detect them.

For CIFAR the ciFAIR lists (Barz & Denzler, "Do we train on test data? Purging CIFAR of
near-duplicates", J. Imaging 6(6):41, 2020; shipped in data/cifair/) are used as published
(paper A.2). For datasets without a list, near_duplicates() builds one the same way they did:
nearest training neighbour by cosine similarity of L2-normalised deep features.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from memgen.errors import fail

DUPLICATE_COLUMNS = ["TestID", "TrainID", "Distance", "Judgment"]
NEAR_DUPLICATE = 1  # ciFAIR's Judgment code for "near-duplicate"; detected pairs are not judged by hand
# where member 0's features are degenerate for some points, those of the first memgen.paths.FALLBACK_MEMBERS
# members of the reference ensemble (the duplicates rule's input `members`) are concatenated


def _normalise(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise fail(f"{what} features have shape {x.shape}, expected [n_points, n_features]", "flatten them")
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    if (norm == 0).any() or not np.isfinite(norm).all():
        bad = np.flatnonzero((norm[:, 0] == 0) | ~np.isfinite(norm[:, 0]))[:5].tolist()
        raise fail(
            f"{what} features of points {bad} are all zero or not finite; cosine similarity is undefined",
            "use features from a trained network's penultimate layer",
        )
    return x / norm


def _cosine64(a: np.ndarray, ia: np.ndarray, b: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Cosine similarity of the pairs (a[ia[k]], b[ib[k]]) in float64, each pair on its own."""
    x = np.asarray(a)[ia].astype(np.float64)
    y = np.asarray(b)[ib].astype(np.float64)
    return (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


def near_duplicates(
    train_features: np.ndarray,
    test_features: np.ndarray,
    threshold: float,
    test_chunk: int = 1024,
    train_chunk: int = 8192,
) -> pd.DataFrame:
    """Pairs (test point, its nearest training point) whose cosine similarity is >= threshold.

    The threshold is on cosine similarity in [-1, 1] (higher = more similar). Returns the ciFAIR
    format, sorted by Distance: TestID, TrainID (nearest neighbour; ties -> lowest index),
    Distance (Euclidean distance of the L2-normalised features, sqrt(2 - 2·cos)), Judgment = 1.
    Neighbours are searched in blocks of test_chunk × train_chunk float32 (32 MiB by default), so 50k × 10k
    points never hold the full similarity matrix; the threshold and Distance use each chosen pair's
    similarity recomputed in float64, the same whatever the block sizes.
    """
    if not -1.0 <= float(threshold) <= 1.0:
        raise fail(
            f"near-duplicate threshold {threshold} is not a cosine similarity", "use a value in [-1, 1]"
        )
    train = _normalise(train_features, "training")
    test = _normalise(test_features, "test")
    if train.shape[1] != test.shape[1]:
        raise fail(
            f"training features have {train.shape[1]} dimensions, test features {test.shape[1]}",
            "extract both with the same network and layer",
        )
    best_sim = np.full(len(test), -np.inf, dtype=np.float32)
    best_idx = np.zeros(len(test), dtype=np.int64)
    for t0 in range(0, len(test), test_chunk):
        t = test[t0 : t0 + test_chunk]
        sim_best = best_sim[t0 : t0 + test_chunk]
        idx_best = best_idx[t0 : t0 + test_chunk]
        for r0 in range(0, len(train), train_chunk):
            sim = t @ train[r0 : r0 + train_chunk].T
            j = sim.argmax(axis=1)
            s = sim[np.arange(len(t)), j]
            better = s > sim_best  # strict: an earlier (lower-index) training point wins ties
            sim_best[better] = s[better]
            idx_best[better] = j[better] + r0
    # The float32 blocks only pick each test point's neighbour; its similarity is then recomputed in float64
    # from the raw features, one pair at a time, so the threshold and distances do not depend on the block
    # sizes or the BLAS (a float32 dot product differs by ~1e-5 between the two). The neighbour among training
    # points within ~1e-6 cosine of each other may still depend on them.
    sim = np.clip(_cosine64(train_features, best_idx, test_features, np.arange(len(test))), -1.0, 1.0)
    hit = np.flatnonzero(sim >= threshold)
    sim = sim[hit]
    df = pd.DataFrame(
        {
            "TestID": hit.astype(np.int64),
            "TrainID": best_idx[hit],
            "Distance": np.sqrt(np.maximum(2.0 - 2.0 * sim, 0.0)),
            "Judgment": np.full(hit.size, NEAR_DUPLICATE, dtype=np.int64),
        }
    )
    return df.sort_values(["Distance", "TestID"], kind="stable").reset_index(drop=True)


def degenerate(x, chunk: int = 65536) -> np.ndarray:
    """bool [n]: rows whose cosine similarity is undefined (all zero, or a value not finite), in chunks of
    rows (ImageNet features are 1.28 M x 2048)."""
    x = np.asarray(x)
    out = np.zeros(len(x), dtype=bool)
    for r0 in range(0, len(x), chunk):
        rows = np.asarray(x[r0 : r0 + chunk], dtype=np.float32).reshape(len(x[r0 : r0 + chunk]), -1)
        out[r0 : r0 + chunk] = ~(np.isfinite(rows).all(1) & (rows != 0).any(1))
    return out


def detect(spaces, threshold: float) -> tuple[pd.DataFrame, dict]:
    """near_duplicates() in the first feature space where every point's features are usable.

    spaces: ordered (name, get) pairs, get() -> (train features [N, d], test features [N_test, d]), called
    only when reached (e.g. one member's features, several members' concatenated, pixels). One space for
    all points, never a mix (docs/decisions.md: One feature space for duplicates): a space in which some
    points' features are all zero or not finite is passed over for the next; in the last space such points
    are left out of the search, never an error.

    Returns the list (ciFAIR columns plus `Features`, the space's name) and a report: {"space",
    "degenerate": {space: {"train": n, "test": n, "train_ids": first 10, "test_ids": first 10}},
    "excluded": {"train": [...], "test": [...]}}.
    """
    spaces = list(spaces)
    if not spaces:
        raise fail("no feature space to detect near-duplicates in", "pass at least one (name, get) pair")
    report: dict = {"space": None, "degenerate": {}, "excluded": {"train": [], "test": []}}
    for i, (name, get) in enumerate(spaces):
        train, test = get()
        bad_train, bad_test = degenerate(train), degenerate(test)
        report["space"] = name
        if not bad_train.any() and not bad_test.any():
            df = near_duplicates(train, test, threshold)
            break
        report["degenerate"][name] = {
            "train": int(bad_train.sum()),
            "test": int(bad_test.sum()),
            "train_ids": np.flatnonzero(bad_train)[:10].tolist(),
            "test_ids": np.flatnonzero(bad_test)[:10].tolist(),
        }
        if i < len(spaces) - 1:
            continue
        keep_train, keep_test = np.flatnonzero(~bad_train), np.flatnonzero(~bad_test)
        report["excluded"] = {
            "train": np.flatnonzero(bad_train).tolist(),
            "test": np.flatnonzero(bad_test).tolist(),
        }
        if len(keep_train) == 0 or len(keep_test) == 0:
            df = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in DUPLICATE_COLUMNS}).astype(
                {"Distance": float}
            )
            break
        df = near_duplicates(np.asarray(train)[keep_train], np.asarray(test)[keep_test], threshold)
        df["TestID"] = keep_test[df["TestID"].to_numpy()]
        df["TrainID"] = keep_train[df["TrainID"].to_numpy()]
    df["Features"] = report["space"]
    return df, report


def load_duplicate_list(path) -> pd.DataFrame:
    """Read a ciFAIR-format list (TestID, TrainID, Distance, Judgment); wrong columns are a MemgenError."""
    path = Path(path)
    if not path.exists():
        raise fail(
            f"duplicate list {path} does not exist",
            "point the config at a ciFAIR list (data/cifair/) or let the workflow detect near-duplicates",
        )
    df = pd.read_csv(path)
    missing = [c for c in DUPLICATE_COLUMNS if c not in df.columns]
    if missing:
        raise fail(
            f"duplicate list {path} lacks columns {missing} (has {list(df.columns)})",
            "use the ciFAIR format: header TestID,TrainID,Distance,Judgment",
        )
    for c in ("TestID", "TrainID", "Judgment"):
        if df[c].isna().any() or not pd.api.types.is_integer_dtype(df[c]):
            raise fail(
                f"duplicate list {path}: column {c} must hold integers only", "fix or regenerate the file"
            )
    if (df[["TestID", "TrainID"]] < 0).any().any():
        raise fail(f"duplicate list {path} holds negative indices", "indices count from 0")
    return df[DUPLICATE_COLUMNS].astype({"TestID": np.int64, "TrainID": np.int64, "Judgment": np.int64})


def detection_quality(found: pd.DataFrame, planted) -> dict:
    """Recall and precision of detected pairs against planted (test_id, train_id) pairs.

    A detection counts only when both ids match a planted pair. NaN recall with nothing planted,
    NaN precision with nothing found.
    """
    planted = {(int(a), int(b)) for a, b in np.asarray(planted, dtype=np.int64).reshape(-1, 2)}
    got = set(zip(found["TestID"].astype(int), found["TrainID"].astype(int), strict=True))
    hits = len(planted & got)
    return {
        "recall": hits / len(planted) if planted else float("nan"),
        "precision": hits / len(got) if got else float("nan"),
    }
