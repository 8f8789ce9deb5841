"""A seeded long-tail dataset with known ground truth, for testing that scores mean what they should.

Each class is a union of sub-populations (clusters around random 8x8 prototypes) whose sizes follow a
Zipf law, so some sub-populations are singletons. A few training labels are flipped, and a few test
points are near-copies of training points (planted duplicates). Feldman's theory predicts: singletons
score high (only learnable by memorizing them), points of large sub-populations score low.
"""

import numpy as np

from memgen.data.dataset import Dataset


def generate(
    n_classes: int = 5,
    subpops_per_class: int = 12,
    zipf_a: float = 2.0,
    max_size: int = 60,
    noise: float = 0.35,
    n_flipped: int = 10,
    n_test_per_subpop: int = 2,
    n_duplicates: int = 15,
    seed: int = 0,
) -> Dataset:
    rng = np.random.default_rng(seed)
    dim = 64
    protos = rng.normal(size=(n_classes * subpops_per_class, dim))
    sub_class = np.repeat(np.arange(n_classes), subpops_per_class)
    # Zipf sizes, capped; rank 1 is large, the tail is singletons
    ranks = rng.permutation(np.tile(np.arange(1, subpops_per_class + 1), n_classes))
    sizes = np.clip(np.round(max_size / ranks**zipf_a), 1, max_size).astype(int)

    def draw(sub_ids):
        z = protos[sub_ids] + noise * rng.normal(size=(len(sub_ids), dim))
        return z

    train_sub = np.repeat(np.arange(len(sizes)), sizes)
    z_train = draw(train_sub)
    y_train = sub_class[train_sub].copy()
    test_sub = np.repeat(np.arange(len(sizes)), n_test_per_subpop)
    z_test = draw(test_sub)
    y_test = sub_class[test_sub].copy()

    flipped = rng.choice(len(y_train), size=n_flipped, replace=False)
    y_train[flipped] = (y_train[flipped] + rng.integers(1, n_classes, size=n_flipped)) % n_classes

    # planted duplicates: test points replaced by a near-copy of a training point (label kept true)
    dup_test = rng.choice(len(y_test), size=n_duplicates, replace=False)
    dup_train = rng.choice(np.setdiff1d(np.arange(len(y_train)), flipped), size=n_duplicates, replace=False)
    z_test[dup_test] = z_train[dup_train] + 0.02 * rng.normal(size=(n_duplicates, dim))
    y_test[dup_test] = sub_class[train_sub[dup_train]]
    test_sub[dup_test] = train_sub[dup_train]

    lo, hi = min(z_train.min(), z_test.min()), max(z_train.max(), z_test.max())

    def to_img(z):
        return np.round((z - lo) / (hi - lo) * 255).astype(np.uint8).reshape(-1, 1, 8, 8)

    truth = {
        "subpop": train_sub,
        "subpop_size": sizes[train_sub],
        "flipped": np.isin(np.arange(len(y_train)), flipped),
        "test_subpop": test_sub,
        "duplicates": np.stack([dup_test, dup_train], axis=1),  # (test index, train index)
    }
    return Dataset(
        "longtail", to_img(z_train), y_train, {"original": (to_img(z_test), y_test)}, n_classes, truth
    )
