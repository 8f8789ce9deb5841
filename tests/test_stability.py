import math

import numpy as np
import pytest

from memgen.analysis.stability import COLUMNS, stability
from memgen.errors import MemgenError

SEED = 7
# Three groups of two members over five points, written per group as (mask, correct) of its members.
# A: member 0 trains on everything, member 1 on nothing -> score = correct_0 - correct_1 = [1, 0, 0, -1, 1]
GROUP_A = ([[1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], [[1, 1, 0, 0, 1], [0, 1, 0, 1, 0]])
# B: point 4 is never trained on (n_in = 0, unscored) -> [1, 1, 0, -1, -]
GROUP_B = ([[1, 1, 1, 1, 0], [0, 0, 0, 0, 0]], [[1, 1, 0, 0, 0], [0, 0, 0, 1, 0]])
GROUP_C = GROUP_A
# frac equals fz here: (1 - 0) / 1 = 1, (0 - 1) / 1 = -1, (1 - 1) / 2 = 0, and 0/0 -> 0.


def members():
    """mask, correct [6, 5] whose members, shuffled with default_rng(SEED), form groups A, B, C in order."""
    order = np.random.default_rng(SEED).permutation(6)
    mask = np.zeros((6, 5), dtype=bool)
    correct = np.zeros((6, 5), dtype=bool)
    for g, (m, c) in enumerate([GROUP_A, GROUP_B, GROUP_C]):
        mask[order[2 * g : 2 * g + 2]] = m
        correct[order[2 * g : 2 * g + 2]] = c
    return mask, correct


def test_stability_by_hand():
    mask, correct = members()
    # size 4 makes one group of 4 (6 // 4 = 1): skipped
    df = stability(mask, correct, sizes=[2, 4], seed=SEED)
    assert list(df.columns) == COLUMNS
    assert df["definition"].tolist() == ["fz", "frac"] and df["size"].tolist() == [2, 2]
    # A vs C: identical on 5 points -> 1.
    # A vs B on points 0..3: A [1, 0, 0, -1] ranks [4, 2.5, 2.5, 1], B [1, 1, 0, -1] ranks [3.5, 3.5, 2, 1];
    # deviations from 2.5: [1.5, 0, 0, -1.5] and [1, 1, -.5, -1.5]; cov 1.5 + 2.25 = 3.75; norms 4.5, 4.5
    # -> rho 3.75 / 4.5 = 5/6; B vs C the same.
    # mean (1 + 5/6 + 5/6) / 3 = 8/9; squared deviations 1/81 + 2/324 = 1/54, / 2 -> std sqrt(1/108)
    for _, row in df.iterrows():
        assert (row["n_groups"], row["n_pairs"]) == (3, 3)
        assert row["mean_spearman"] == pytest.approx(8 / 9)
        assert row["std_spearman"] == pytest.approx(math.sqrt(1 / 108))


def test_another_seed_pairs_other_members():
    # the groups are built from the seeded shuffle: another seed mixes A's and B's members
    mask, correct = members()
    other = stability(mask, correct, sizes=[2], seed=SEED + 1)
    assert other["mean_spearman"].iloc[0] != pytest.approx(8 / 9)


def test_sizes_with_nothing_scored_give_rows_without_pairs():
    mask, correct = members()
    # size 1: each group is one member, so every point has n_in = 0 or n_out = 0 -> no pair defined
    df = stability(mask, correct, sizes=[1], seed=SEED)
    assert df["n_groups"].tolist() == [6, 6] and df["n_pairs"].tolist() == [0, 0]
    assert df["mean_spearman"].isna().all()
    # min_out 2 with groups of 2 (one member out at most): nothing scored either
    assert stability(mask, correct, sizes=[2], seed=SEED, min_out=2)["n_pairs"].tolist() == [0, 0]


def test_only_sizes_below_two_groups_give_an_empty_table():
    mask, correct = members()
    df = stability(mask, correct, sizes=[4, 6, 10], seed=SEED)
    assert df.empty and list(df.columns) == COLUMNS


def test_bad_sizes():
    mask, correct = members()
    with pytest.raises(MemgenError, match="sizes"):
        stability(mask, correct, sizes=[0, 2], seed=SEED)


def test_log_odds_add_conf_and_lira_rows():
    mask, correct = members()
    # log-odds that follow correctness: conf and lira order the points as fz does within each group
    log_odds = np.where(correct, 2.0, -2.0)
    df = stability(mask, correct, sizes=[2], seed=SEED, log_odds=log_odds)
    assert df["definition"].tolist() == ["fz", "frac", "conf", "lira"]
    # lira fits a Gaussian per side: one member a side (groups of two) leaves no variance to pool -> NaN
    assert df["n_pairs"].tolist() == [3, 3, 3, 0]
    # without them, fz and frac only (conf and lira would be NaN throughout)
    assert stability(mask, correct, sizes=[2], seed=SEED)["definition"].tolist() == ["fz", "frac"]
