"""The points of a memorized set one held-out member's flip would move across τ (memgen/scores/fragility.py),
against hand computations."""

import numpy as np
import pandas as pd

from memgen.scores.fragility import fragile_counts, one_flip_scores


def _scores(rows):
    # (acc_in, acc_out, n_out)
    return pd.DataFrame(rows, columns=["acc_in", "acc_out", "n_out"])


def test_one_flip_moves_fz_by_one_held_out_member():
    s = _scores([(1.0, 0.25, 20), (0.9, 0.0, 10), (0.5, 1.0, 4)])
    lower, higher = one_flip_scores(s, "fz")
    np.testing.assert_allclose(lower, [1.0 - 0.30, 0.9 - 0.1, 0.5 - 1.0])  # the last cannot fall further
    np.testing.assert_allclose(higher, [1.0 - 0.20, 0.9 - 0.0, 0.5 - 0.75])


def test_one_flip_moves_frac_through_its_own_formula():
    s = _scores([(1.0, 0.0, 12)])
    lower, higher = one_flip_scores(s, "frac")
    np.testing.assert_allclose(lower, [(1 - 1 / 12) / (1 + 1 / 12)])  # 0.846: a frac = 1 point falls
    np.testing.assert_allclose(higher, [1.0])


def test_fragile_counts_the_points_within_one_member_of_tau():
    # fz at tau 0.25 with n_out 20 (step 0.05): 0.28 leaves (0.23), 0.31 stays (0.26), 0.22 enters (0.27)
    s = _scores([(0.58, 0.30, 20), (0.61, 0.30, 20), (0.52, 0.30, 20), (0.40, 0.30, 20)])
    fz = (s["acc_in"] - s["acc_out"]).to_numpy()
    selected = fz >= 0.25
    counts = fragile_counts(s, "fz", 0.25, selected, np.ones(4, bool))
    assert counts == {"leave": 1, "enter": 1}


def test_fragility_has_no_meaning_for_continuous_scores_or_an_undefined_tau():
    s = _scores([(1.0, 0.0, 12)])
    assert fragile_counts(s, "lira", 0.9, np.ones(1, bool), np.ones(1, bool)) is None
    assert fragile_counts(s, "fz", None, np.ones(1, bool), np.ones(1, bool)) is None
