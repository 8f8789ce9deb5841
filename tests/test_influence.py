"""Influence pairs (memgen.influence.compute) against a brute-force loop over every pair."""

import numpy as np
import pytest

from memgen.errors import MemgenError
from memgen.influence import compute
from memgen.influence.compute import candidate_pairs, high_influence, influence_pairs


def brute(mask, correct, log_odds, i, j):
    """infl, se and their log-odds versions of one pair, by selecting members one pair at a time."""
    held_in, held_out = mask[:, i], ~mask[:, i]
    out = {}
    for name, v in (("infl", correct[:, j].astype(float)), ("infl_log_odds", log_odds[:, j].astype(float))):
        a, b = v[held_in], v[held_out]
        out[name] = np.mean(a) - np.mean(b)
        out[name.replace("infl", "se")] = np.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    return out


def random_case(seed=0, k=48, n=30, t=12):
    rng = np.random.default_rng(seed)
    mask = rng.random((k, n)) < 0.6
    p = rng.random(t)
    correct = rng.random((k, t)) < p
    # dyadic log-odds (multiples of 1/8 in [-8, 8]): sums in any order are exact, so means compare exactly
    log_odds = (rng.integers(-64, 65, (k, t)) / 8).astype(np.float32)
    return mask, correct, log_odds


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_kept_pair_equals_the_brute_force_loop(seed):
    mask, correct, log_odds = random_case(seed)
    df = influence_pairs(mask, correct, log_odds, top=4, threshold=0.2)
    assert len(df) > 20
    for r in df.itertuples():
        b = brute(mask, correct, log_odds, r.train, r.test)
        assert r.infl == b["infl"] and r.infl_log_odds == b["infl_log_odds"]  # exact
        assert r.se == pytest.approx(b["se"], rel=1e-12) and r.se_log_odds == pytest.approx(
            b["se_log_odds"], rel=1e-12
        )
        assert r.n_in == mask[:, r.train].sum() and r.n_out == (~mask[:, r.train]).sum()


@pytest.mark.parametrize("seed", [0, 1])
def test_the_kept_set_is_the_brute_force_selection(seed, monkeypatch):
    """Top 3 per test point by infl (ties: log-odds influence, then the lower index), infl > 0, plus every
    pair >= threshold; computed in blocks of 7 training points, so blocks and merging are exercised."""
    monkeypatch.setattr(compute, "_BLOCK_CELLS", 7 * 12)
    mask, correct, log_odds = random_case(seed)
    top, threshold = 3, 0.25
    df = influence_pairs(mask, correct, log_odds, top=top, threshold=threshold)
    expected = set()
    for j in range(correct.shape[1]):
        rows = [(brute(mask, correct, log_odds, i, j), i) for i in range(mask.shape[1])]
        ranked = sorted(rows, key=lambda r: (-r[0]["infl"], -r[0]["infl_log_odds"], r[1]))
        for rank, (b, i) in enumerate(ranked, start=1):
            if (rank <= top and b["infl"] > 0) or b["infl"] >= threshold:
                expected.add((i, j, rank))
    assert set(zip(df["train"], df["test"], df["rank"], strict=True)) == expected


def test_excluded_and_undefined_training_points_never_appear():
    mask, correct, log_odds = random_case(3)
    mask[:, 5] = True  # held out by no member: undefined
    excluded = np.zeros(mask.shape[1], bool)
    excluded[[0, 1, 2]] = True
    df = influence_pairs(mask, correct, log_odds, excluded=excluded, top=30, threshold=-1.0)
    assert not set(df["train"]) & {0, 1, 2, 5}
    assert len(df) == (mask.shape[1] - 4) * correct.shape[1]  # every other pair, at threshold -1


def test_a_planted_twin_is_the_top_pair():
    """Test point 0 is right exactly when training point 7 is in: infl = 1, rank 1, high influence."""
    mask, correct, _ = random_case(4, k=64)
    correct[:, 0] = mask[:, 7]
    df = influence_pairs(mask, correct, None, top=2, threshold=0.5)
    first = df[(df["test"] == 0) & (df["rank"] == 1)].iloc[0]
    assert first["train"] == 7 and first["infl"] == 1.0 and first["se"] == 0.0
    assert df["infl_log_odds"].isna().all()
    assert high_influence(df, 0.15, 0.05)[first.name]


def test_exact_p_is_fishers_one_sided_test():
    """The hypergeometric p of a pair is Fisher's exact test of its 2 x 2 table (in/out x right/wrong)."""
    from scipy.stats import fisher_exact

    mask, correct, _ = random_case(5, k=40)
    df = influence_pairs(mask, correct, None, top=2, threshold=0.3)
    for r in df.head(10).itertuples():
        right_in = int(correct[mask[:, r.train], r.test].sum())
        right_out = int(correct[~mask[:, r.train], r.test].sum())
        table = [[right_in, r.n_in - right_in], [right_out, r.n_out - right_out]]
        assert r.p_value == pytest.approx(fisher_exact(table, alternative="greater").pvalue, rel=1e-9)
    m = compute.tested_pairs(mask, correct)
    assert m == mask.shape[1] * int(((correct.sum(0) > 0) & (correct.sum(0) < 40)).sum())
    assert np.allclose(df["p_adjusted"], np.minimum(df["p_value"] * m, 1))


def test_high_influence_needs_threshold_and_the_adjusted_p():
    import pandas as pd

    pairs = pd.DataFrame({"infl": [0.2, 0.2, 0.1, 1.0], "p_adjusted": [0.01, 0.2, 0.001, 0.0]})
    assert high_influence(pairs, 0.15, 0.05).tolist() == [True, False, False, True]


def test_members_of_two_ensembles_fail_in_one_line():
    mask, correct, _ = random_case()
    with pytest.raises(MemgenError, match=r"masks \(48, 30\) and test correctness \(40, 12\)"):
        candidate_pairs(mask, correct[:40])
