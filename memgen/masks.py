"""Balanced inclusion masks (as in LiRA): member k trains on point i iff mask[k, i].

Members come in blocks of B. Within a block every point is in exactly round(r * B) members, so each
point gets the same number of in- and out-models (no point is scored from luck of the draw). A block is
generated from (seed, block index) alone: raising K appends blocks and never changes an existing member.
"""

import numpy as np

from memgen.errors import fail


def check_mask_spec(rate: float, members: int, block_size: int, where: str = "ensemble") -> None:
    if not 0 < rate < 1:
        raise fail(f"{where}: rate {rate} is outside (0, 1)", "use a fraction such as 0.7 or 0.95")
    if block_size < 2:
        raise fail(f"masks.block_size = {block_size} is below 2", "use e.g. 32 or 64")
    if members <= 0 or members % block_size:
        raise fail(
            f"{where}: members = {members} is not a positive multiple of masks.block_size = {block_size}",
            "use "
            + " or ".join(
                f"{m} members"
                for m in sorted(
                    {max(1, members // block_size) * block_size, (members // block_size + 1) * block_size}
                )
            )
            + ", or change masks.block_size",
        )
    m = round(rate * block_size)
    if m in (0, block_size):
        raise fail(
            f"{where}: rate {rate} with block_size {block_size} puts every point in {m} of {block_size} "
            "members, "
            "so no point is ever held out (or ever trained on)",
            "raise masks.block_size or move the rate away from 0 and 1",
        )


def block(seed: int, b: int, block_size: int, n_points: int, rate: float) -> np.ndarray:
    """Block b: bool [block_size, n_points], each column with exactly round(rate * block_size) Trues."""
    rng = np.random.default_rng([seed, b])
    ranks = rng.random((block_size, n_points)).argsort(0).argsort(0)
    return ranks < round(rate * block_size)


def balanced_mask(seed: int, members: int, block_size: int, n_points: int, rate: float) -> np.ndarray:
    check_mask_spec(rate, members, block_size)
    return np.concatenate([block(seed, b, block_size, n_points, rate) for b in range(members // block_size)])
