"""Influence pairs (memgen.influence.compute) against a brute-force loop over every pair."""

import numpy as np
import pytest

from memgen.errors import MemgenError
from memgen.influence import compute
from memgen.influence.compute import candidate_pairs, high_influence, influence_pairs


def wilson_by_hand(x, n, z=1.959963984540054):
    """Wilson's score interval, written out: the roots of (p - x/n)^2 = z^2 p (1 - p) / n."""
    a = 1 + z * z / n
    b = -(2 * x / n + z * z / n)
    c = (x / n) ** 2
    root = np.sqrt(max(b * b - 4 * a * c, 0.0))
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def newcombe_by_hand(x1, n1, x2, n2):
    (l1, u1), (l2, u2) = wilson_by_hand(x1, n1), wilson_by_hand(x2, n2)
    d = x1 / n1 - x2 / n2
    return d - np.hypot(x1 / n1 - l1, u2 - x2 / n2), d + np.hypot(u1 - x1 / n1, x2 / n2 - l2)


def brute(mask, correct, log_odds, i, j):
    """infl with its Newcombe interval and the log-odds influence with its se, of one pair, by selecting
    members one pair at a time."""
    held_in, held_out = mask[:, i], ~mask[:, i]
    out = {}
    for name, v in (("infl", correct[:, j].astype(float)), ("infl_log_odds", log_odds[:, j].astype(float))):
        a, b = v[held_in], v[held_out]
        out[name] = np.mean(a) - np.mean(b)
        out[name.replace("infl", "se")] = np.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    right_in, right_out = correct[held_in, j].sum(), correct[held_out, j].sum()
    out["infl_lo"], out["infl_hi"] = newcombe_by_hand(right_in, held_in.sum(), right_out, held_out.sum())
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
        assert r.se_log_odds == pytest.approx(b["se_log_odds"], rel=1e-12)
        assert (r.infl_lo, r.infl_hi) == pytest.approx((b["infl_lo"], b["infl_hi"]), abs=1e-12)
        assert r.infl_lo <= r.infl <= r.infl_hi
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
    assert first["train"] == 7 and first["infl"] == 1.0 and first["infl_hi"] == 1.0 and first["infl_lo"] < 1
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


# ---- the real bar, the interval, the ranking ---------------------------------------------------------------
def test_the_interval_of_175_of_244_in_vs_0_of_12_out_is_newcombes_not_walds():
    """256 members, 12 hold training point 0 out: the test point is right on 175 of the 244 holding it and
    on none of the 12 without it. Wald's se prints 0.72 +- 0.03; 0 of 12 alone is compatible with a held-out
    rate up to Wilson's 0.24 (z^2 / (12 + z^2)), so the interval's lower end sits ~0.25 below 0.72."""
    z = 1.959963984540054
    k = 256
    mask = np.ones((k, 2), dtype=bool)
    mask[:12, 0] = False
    mask[:128, 1] = False
    correct = np.zeros((k, 1), dtype=bool)
    correct[12 : 12 + 175, 0] = True
    s = compute.pair_stats(mask, correct, None, np.array([0]), np.array([0]))
    assert s["infl"][0] == 175 / 244
    lo, hi = newcombe_by_hand(175, 244, 0, 12)
    assert (s["infl_lo"][0], s["infl_hi"][0]) == pytest.approx((lo, hi), abs=1e-12)
    assert (
        compute.wilson(0, 12)[1]
        == pytest.approx(z * z / (12 + z * z), abs=1e-12)
        == pytest.approx(0.2425, abs=1e-4)
    )
    assert s["infl"][0] - s["infl_lo"][0] == pytest.approx(
        np.hypot(175 / 244 - wilson_by_hand(175, 244)[0], 0.24249), abs=1e-4
    )
    assert (s["infl_lo"][0], s["infl_hi"][0]) == pytest.approx((0.4675, 0.7700), abs=1e-4)
    wald = np.sqrt((175 / 244) * (69 / 244) / 244)  # the old se (the out group's variance is 0)
    assert s["infl"][0] - s["infl_lo"][0] > 8 * wald


@pytest.mark.parametrize(
    ("n_in", "n_out", "family", "alpha", "threshold"),
    [
        (12, 4, 50, 0.05, 0.15),
        (20, 6, 1_000, 0.05, 0.15),
        (9, 9, 10, 0.05, 0.15),
        (15, 5, 200, 0.01, 0.6),  # the threshold binds
        (30, 5, 1, 1.0, 0.15),  # alpha 1: Feldman & Zhang's threshold alone
        (10, 3, 10**6, 0.05, 0.15),  # nothing can pass
    ],
)
def test_the_smallest_flaggable_influence_is_the_brute_force_bar(n_in, n_out, family, alpha, threshold):
    """Every table a pair can show (a of n_in right in, b of n_out right out), Fisher's one-sided exact test
    of each, Bonferroni over `family`: the smallest infl that passes it and the threshold."""
    from scipy.stats import fisher_exact

    passing = [
        a / n_in - b / n_out
        for a in range(n_in + 1)
        for b in range(n_out + 1)
        if a / n_in - b / n_out >= threshold
        and min(1.0, family * fisher_exact([[a, n_in - a], [b, n_out - b]], alternative="greater").pvalue)
        <= alpha
    ]
    got = compute.min_flaggable(n_in, n_out, family, alpha, threshold)
    if passing:
        assert got == pytest.approx(min(passing), abs=1e-12)
    else:
        assert np.isnan(got)


def test_at_the_default_studys_size_the_bar_is_not_the_threshold():
    """The reference ensemble (244 in, 12 out) over ~85,000 pairs: a pair needs infl >= 0.41, not 0.15 (the
    smallest pair flagged there had 0.417); alpha 1 leaves the threshold alone."""
    bar = compute.min_flaggable(244, 12, 85_000, 0.05, 0.15)
    assert 0.41 < bar < 0.417
    attainable = min(x for a in range(245) for b in range(13) if (x := a / 244 - b / 12) >= 0.15)
    assert compute.min_flaggable(244, 12, 85_000, 1.0, 0.15) == attainable


def test_every_flagged_pair_clears_the_bar_and_a_pair_at_the_bar_is_flagged():
    """Balanced masks (every training point in 24 of 32 members): no high-influence pair has influence
    below min_flaggable at the study's family, and the test point planted at exactly the bar's table is
    flagged."""
    from memgen.ensemble.masks import balanced_mask

    mask = balanced_mask(0, 32, 32, 12, 0.75)
    rng = np.random.default_rng(1)
    correct = rng.random((32, 8)) < 0.6
    correct[:, 0] = mask[:, 3]  # a twin: infl 1
    family = compute.tested_pairs(mask, correct)
    bar = compute.min_flaggable(24, 8, family, 0.05, 0.15)
    a, b = min(
        ((a, b) for a in range(25) for b in range(9) if np.isclose(a / 24 - b / 8, bar)),
        key=lambda t: compute.exact_p(t[0], t[0] + t[1], 24, 32),
    )
    inn, out = np.flatnonzero(mask[:, 5]), np.flatnonzero(~mask[:, 5])
    correct[:, 1] = False
    correct[inn[:a], 1] = correct[out[:b], 1] = True  # test point 1 shows the bar's table for point 5
    df = influence_pairs(mask, correct, None, top=3, threshold=0.15)
    high = df[high_influence(df, 0.15, 0.05)]
    assert compute.tested_pairs(mask, correct) == family and len(high) >= 2
    assert (high["infl"] >= bar).all()
    assert ((high["train"] == 5) & (high["test"] == 1)).any()


def test_ties_in_influence_go_to_the_log_odds_influence_not_the_narrower_interval():
    """Two pairs with the same infl: the one with the higher log-odds influence ranks first, whatever their
    intervals (the old gallery took the smaller se: the pair whose counts sat at 0 or n_out)."""
    import pandas as pd

    from memgen.influence.leakage import strongest_pairs as strongest

    table = pd.DataFrame(
        {
            "test_index": [0, 1, 2],
            "train_index": [10, 11, 12],
            "infl": [0.5, 0.5, 0.4],
            "se": [0.01, 0.2, 0.0],
            "infl_lo": [0.45, 0.1, 0.3],
            "infl_hi": [0.55, 0.8, 0.5],
            "infl_log_odds": [0.1, 0.9, 5.0],
        }
    )
    assert strongest(table, 3)["test_index"].tolist() == [1, 0, 2]
    same = table.assign(infl_log_odds=[0.3, 0.3, 0.3])
    assert strongest(same, 2)["test_index"].tolist() == [0, 1]  # then the lower index


# ---- cross-fitting -----------------------------------------------------------------------------------------
def test_the_influence_ensemble_shares_no_member_with_the_memorized_sets():
    """The default study's influence pairs come from an ensemble whose scores choose no memorized set
    (memorized.csv and every removal set are ablation.baseline's or ablation.high_rate's); naming one of those
    fails in one line; influence.crossfit: false is the old choice, the reference."""
    import copy
    from pathlib import Path

    import yaml

    import memgen.config as mc
    from memgen import params as mp
    from memgen.errors import MemgenError

    base = mc.validate(yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text()))
    chosen = {base["ablation"]["baseline"], base["ablation"]["high_rate"]}
    assert mc.influence_ensemble(base) not in chosen
    assert mc.influence_ensemble(base) == "rate0.5"  # the recipe's own, most members, rate nearest 0.7
    assert mp.influence(base)["cross_fitted"] is True

    off = copy.deepcopy(base)
    off["influence"]["crossfit"] = False
    assert mc.influence_ensemble(off) == mc.reference(off) and mp.influence(off)["cross_fitted"] is False
    named = copy.deepcopy(base)
    named["influence"]["ensemble"] = base["ablation"]["high_rate"]
    with pytest.raises(MemgenError, match=r"found by construction.*Fix: set influence.ensemble to one of"):
        mc.validate(named)
    two = copy.deepcopy(base)
    two["ensembles"] = {e: base["ensembles"][e] for e in chosen}
    assert mc.influence_ensemble(two) == mc.reference(two) and not mp.influence(two)["cross_fitted"]


def unlucky_study(seed: int, k=64, n=40, t=30, weak=range(16), unlucky=range(4)):
    """An ensemble with no real influence at all. Its `weak` members get test points 0..19 wrong (and a
    training point wrong whenever they hold it out); the strong ones get them right. Training points
    `unlucky` happen to be held out by exactly the weak members: they look memorized (frac = 1) and, from the
    same members, seem to lift every one of those test points (infl = 1)."""
    rng = np.random.default_rng(seed)
    weak = np.isin(np.arange(k), list(weak))
    mask = np.ones((k, n), dtype=bool)
    for i in range(n):
        mask[np.flatnonzero(weak) if i in unlucky else rng.permutation(k)[:16], i] = False
    correct = np.ones((k, t), dtype=bool)
    correct[weak, :20] = False
    correct[:, 20:] = rng.random((k, t - 20)) < 0.7
    frac = 1 - np.array([1 - weak[~mask[:, i]].mean() for i in range(n)])  # acc_in (1) - acc_out
    return mask, correct, frac


def partner_test_points(mask, correct, memorized) -> np.ndarray:
    """The split's partner flag (memgen.influence.jobs.partner_flag) from this ensemble's influence."""
    from memgen.influence.jobs import partner_flag

    df = influence_pairs(mask, correct, None, top=3, threshold=0.15)
    table = df.rename(columns={"train": "train_index", "test": "test_index"})
    n_in = int(mask.sum(0)[0])
    summary = {"invalid_train": [], "contested_test_points": int(compute.contested(correct).sum())}
    summary |= {"threshold": 0.15, "alpha": 0.05, "n_in": n_in, "n_out": len(mask) - n_in}
    return np.flatnonzero(partner_flag(table, summary, memorized, correct.shape[1])["partner"])


def test_the_same_members_find_a_memorized_partner_by_construction_disjoint_ones_do_not():
    mask, correct, frac = unlucky_study(0)
    memorized = np.flatnonzero(frac >= 0.5)
    assert memorized.tolist() == [0, 1, 2, 3]
    # the members that chose the set: every test point the weak members miss has a memorized "partner"
    assert partner_test_points(mask, correct, memorized).tolist() == list(range(20))
    # another ensemble's members (its own weak ones, its own draws): no partner at all
    other_mask, other_correct, _ = unlucky_study(1, weak=range(48, 64), unlucky=())
    assert partner_test_points(other_mask, other_correct, memorized).size == 0
