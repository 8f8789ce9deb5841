"""Balanced inclusion masks (as in LiRA): member k trains on point i iff mask[k, i].

Members come in blocks of B. Within a block every point is in exactly round(r * B) members, so each
point gets the same number of in- and out-models (no point is scored from luck of the draw). A block is
generated from (seed, block index) alone: raising K appends blocks and never changes an existing member.
"""

import numpy as np

from memgen.config import check_mask_spec


def block(seed: int, b: int, block_size: int, n_points: int, rate: float) -> np.ndarray:
    """Block b: bool [block_size, n_points], each column with exactly round(rate * block_size) Trues."""
    rng = np.random.default_rng([seed, b])
    ranks = rng.random((block_size, n_points)).argsort(0).argsort(0)
    return ranks < round(rate * block_size)


def balanced_mask(seed: int, members: int, block_size: int, n_points: int, rate: float) -> np.ndarray:
    check_mask_spec(rate, members, block_size)
    return np.concatenate([block(seed, b, block_size, n_points, rate) for b in range(members // block_size)])
