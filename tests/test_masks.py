"""Balanced masks: exact per-point counts within each block, blocks seeded by (seed, block index)."""

import numpy as np
import pytest

from memgen.config import check_mask_spec
from memgen.ensemble.masks import balanced_mask
from memgen.errors import MemgenError


@pytest.mark.parametrize(
    "rate,block,expect", [(0.7, 10, 7), (0.5, 8, 4), (0.25, 8, 2), (0.95, 64, 61), (0.3, 5, 2)]
)
def test_every_block_column_has_round_r_b(rate, block, expect):
    # round(0.95 * 64) = round(60.8) = 61; round(0.3 * 5) = round(1.5) = 2
    m = balanced_mask(seed=3, members=3 * block, block_size=block, n_points=101, rate=rate)
    assert m.shape == (3 * block, 101) and m.dtype == bool
    for b in range(3):
        np.testing.assert_array_equal(m[b * block : (b + 1) * block].sum(0), np.full(101, expect))
    # each member sees about r * N points (exactly expect/block of them on average)
    rows = m.sum(1)
    assert rows.mean() == pytest.approx(101 * expect / block)
    assert np.abs(rows - 101 * rate).max() < 5 * np.sqrt(101 * rate * (1 - rate)) + 1


def test_members_differ_and_are_seeded():
    a = balanced_mask(seed=0, members=16, block_size=8, n_points=50, rate=0.5)
    b = balanced_mask(seed=0, members=16, block_size=8, n_points=50, rate=0.5)
    c = balanced_mask(seed=1, members=16, block_size=8, n_points=50, rate=0.5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len({r.tobytes() for r in a}) == 16  # no two members share a subset
    assert not np.array_equal(a[:8], a[8:])  # blocks are different draws


def test_raising_members_keeps_existing_rows():
    small = balanced_mask(seed=5, members=8, block_size=4, n_points=30, rate=0.5)
    large = balanced_mask(seed=5, members=24, block_size=4, n_points=30, rate=0.5)
    np.testing.assert_array_equal(large[:8], small)


def test_bad_specs():
    with pytest.raises(MemgenError, match=r"members = 10 is not a positive multiple of masks.block_size = 4"):
        balanced_mask(seed=0, members=10, block_size=4, n_points=5, rate=0.5)
    with pytest.raises(MemgenError, match="8 members or 12 members"):  # the nearest valid counts
        check_mask_spec(0.5, 10, 4)
    with pytest.raises(MemgenError, match="members = 0"):
        check_mask_spec(0.5, 0, 4)
    for rate in (0.0, 1.0, -0.2, 1.3):
        with pytest.raises(MemgenError, match=r"outside \(0, 1\)"):
            balanced_mask(seed=0, members=4, block_size=4, n_points=5, rate=rate)
    with pytest.raises(MemgenError, match="no point is ever held out"):
        check_mask_spec(0.95, 4, 4)  # round(3.8) = 4 of 4: every point always in
    with pytest.raises(MemgenError, match="block_size = 1"):
        check_mask_spec(0.5, 4, 1)
    with pytest.raises(MemgenError, match="ensembles.x"):
        check_mask_spec(0.5, 3, 2, where="ensembles.x")
