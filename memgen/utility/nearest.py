"""Fig. 4's pairs: the highest-scoring natural training points, each with its closest test image.

The paper's figure pairs the top-scoring training points with their closest test images, whether or not a
duplicate list names them; "Listed" marks pairs the list does name. Nearest = pixel cosine.
"""

import numpy as np
import pandas as pd


def top_natural(scores: pd.DataFrame, definition: str, n: int) -> np.ndarray:
    """Indices of the n highest-scoring natural training points with a score (ties: lower index first)."""
    s = scores[definition].to_numpy(dtype=float)
    natural = ~scores["canary"].to_numpy().astype(bool) & ~np.isnan(s)
    return np.flatnonzero(natural)[np.argsort(-s[natural], kind="stable")][:n]


def _unit(x) -> np.ndarray:
    f = np.asarray(x).reshape(len(x), -1).astype(np.float64)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def nearest_test(train_images, x_test, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """(index, cosine similarity) of each training image's closest test image, a chunk of the test set at a
    time (a streamed folder is never held whole)."""
    from memgen.data.stream import iter_chunks  # torch: only this figure's job needs it

    train = _unit(train_images)
    best, nearest = np.full(len(train), -np.inf), np.zeros(len(train), dtype=np.int64)
    start = 0
    for batch in iter_chunks(x_test, chunk):
        sim = train @ _unit(batch.numpy()).T
        better = sim.max(1) > best
        nearest[better] = start + sim.argmax(1)[better]
        best[better] = sim.max(1)[better]
        start += len(batch)
    return nearest, best


def leakage_pairs(
    scores: pd.DataFrame, x_train, x_test, listed: pd.DataFrame, definition: str, n: int
) -> pd.DataFrame:
    """Duplicate-list columns (TestID, TrainID, Distance, Judgment) and Listed of the n highest-scoring
    natural training points and their closest test images; Distance = sqrt(2 − 2 cos), the unit vectors'
    Euclidean distance; Listed: the duplicate list `listed` names the pair."""
    top = top_natural(scores, definition, n)
    nearest, best = nearest_test(x_train[top], x_test)
    listed_pairs = set(zip(listed["TestID"].astype(int), listed["TrainID"].astype(int), strict=True))
    return pd.DataFrame(
        {
            "TestID": nearest,
            "TrainID": top,
            "Distance": np.sqrt(np.maximum(0.0, 2 - 2 * best)),
            "Judgment": 1,
            "Listed": [(int(t), int(i)) in listed_pairs for t, i in zip(nearest, top, strict=True)],
        }
    )
