"""Canaries: training points relabeled to a random *other* class, the null of memorization (paper §3.2)."""

import numpy as np

from memgen.errors import fail


def make_canaries(labels: np.ndarray, num_classes: int, fraction: float, seed: int) -> dict[str, np.ndarray]:
    """Pick round(fraction * N) points (seeded) and give each a uniformly random label != its true one."""
    labels = np.asarray(labels, dtype=np.int64)
    if not 0 <= fraction < 1:
        raise fail(f"canaries.fraction = {fraction} is outside [0, 1)", "use e.g. 0.05 (the paper's 5 %)")
    if num_classes < 2 and fraction > 0:
        raise fail("canaries need at least 2 classes", "set canaries.fraction: 0")
    rng = np.random.default_rng([seed, 0xCA7A])
    n = int(round(fraction * len(labels)))
    index = np.sort(rng.choice(len(labels), size=n, replace=False))
    scoring = labels.copy()
    # adding 1..C-1 modulo C gives every other class with equal probability, never the true one
    scoring[index] = (labels[index] + rng.integers(1, num_classes, size=n)) % num_classes
    canary = np.zeros(len(labels), dtype=bool)
    canary[index] = True
    return {"index": index.astype(np.int64), "label": scoring, "true_label": labels, "canary": canary}
