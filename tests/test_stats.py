import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from memgen.errors import MemgenError
from memgen.utility.stats import (
    _linearized,
    dropped_points_test,
    paired_score,
    seed_curve,
    two_way_delta,
    two_way_test,
)

MEM = [83.1, 84.0, 82.7, 83.9, 84.4]
RAND = [82.9, 83.1, 83.0, 83.2, 83.5]


def test_paired_score_by_hand():
    # d = 1, 2, 3: mean 2, sd 1, t = 2 / (1/sqrt 3) = 2 sqrt 3, df 2.
    # Student t with 2 df: two-sided p = 1 - t / sqrt(2 + t^2).
    s = paired_score([1.0, 2.0, 3.0])
    t = 2 * math.sqrt(3)
    assert s["score"] == pytest.approx(2.0) and s["std"] == pytest.approx(1.0) and s["n"] == 3
    assert s["t"] == pytest.approx(t)
    assert s["p"] == pytest.approx(1 - t / math.sqrt(2 + t * t))  # 0.07418
    assert s["p"] == pytest.approx(0.0741799, abs=1e-6)


def test_paired_score_matches_scipy_both_forms():
    ref = sps.ttest_rel(MEM, RAND)
    d = np.subtract(MEM, RAND)
    for s in (paired_score(MEM, RAND), paired_score(d)):
        assert s["score"] == pytest.approx(0.48)  # (0.2 + 0.9 - 0.3 + 0.7 + 0.9) / 5
        assert s["t"] == pytest.approx(ref.statistic)
        assert s["p"] == pytest.approx(ref.pvalue)
        assert s["std"] == pytest.approx(np.std(d, ddof=1))


def test_paired_score_small_and_degenerate_samples():
    one = paired_score([0.7])
    assert one["score"] == pytest.approx(0.7) and one["n"] == 1
    assert math.isnan(one["std"]) and math.isnan(one["t"]) and math.isnan(one["p"])
    none = paired_score([])
    assert none["n"] == 0 and math.isnan(none["score"]) and math.isnan(none["p"])
    same = paired_score([0.5, 0.5, 0.5])
    assert same["std"] == 0 and same["p"] == 0 and same["t"] == math.inf
    zero = paired_score([0.0, 0.0, 0.0])
    assert zero["p"] == 1 and zero["t"] == 0
    # float noise on equal accuracies (0.1 + 0.2 != 0.3) is still zero variance, not t ~ 1e16
    noisy = paired_score([0.1 + 0.2, 0.3, 0.3], [0.3, 0.3, 0.1 + 0.2])
    assert noisy["p"] == 1 and noisy["std"] == 0
    noisy_mean = paired_score([0.1 + 0.2, 0.3], [0.3, 0.3])  # differences 5.6e-17 and 0
    assert noisy_mean["p"] == 1
    with pytest.raises(MemgenError):
        paired_score([1.0, 2.0], [1.0])


def _anova_variance(d):
    """(MS_seeds + MS_points − MS_residual) / (M n), the two-way random-effects variance of the mean, by
    loops over every cell."""
    m, n = len(d), len(d[0])
    grand = sum(d[s][j] for s in range(m) for j in range(n)) / (m * n)
    rows = [sum(d[s]) / n for s in range(m)]
    cols = [sum(d[s][j] for s in range(m)) / m for j in range(n)]
    ms_a = n * sum((r - grand) ** 2 for r in rows) / (m - 1)
    ms_b = m * sum((c - grand) ** 2 for c in cols) / (n - 1)
    resid = sum((d[s][j] - rows[s] - cols[j] + grand) ** 2 for s in range(m) for j in range(n))
    ms_e = resid / ((m - 1) * (n - 1))
    return (ms_a + ms_b - ms_e) / (m * n), ms_a, ms_b, ms_e


def test_two_way_variance_is_the_two_way_anova_by_hand():
    rng = np.random.default_rng(3)
    d = rng.normal(size=(5, 40)) + rng.normal(size=(1, 40)) + 0.5 * rng.normal(size=(5, 1))
    var, ms_a, ms_b, ms_e = _anova_variance(d.tolist())
    r = two_way_test(d)
    assert r["se"] ** 2 == pytest.approx(1e4 * var) and r["score"] == pytest.approx(100 * d.mean())
    # Satterthwaite's df of (MS_A + MS_B − MS_E)/(Mn) with 4, 39 and 156 df
    df = (ms_a + ms_b - ms_e) ** 2 / (ms_a**2 / 4 + ms_b**2 / 39 + ms_e**2 / 156)
    assert r["df"] == pytest.approx(df)
    t = 100 * d.mean() / r["se"]
    assert r["p"] == pytest.approx(2 * sps.t.sf(abs(t), df))
    q = sps.t.ppf(0.975, df)
    assert (r["ci_lo"], r["ci_hi"]) == pytest.approx(
        (100 * d.mean() - q * r["se"], 100 * d.mean() + q * r["se"])
    )
    # the seed-only test beside it: the paired t-test of the per-seed means
    assert r["p_seeds"] == pytest.approx(sps.ttest_1samp(100 * d.mean(axis=1), 0).pvalue)
    assert two_way_test(d > 0, d > 0.5)["score"] == pytest.approx(100 * ((d > 0).mean() - (d > 0.5).mean()))


def test_test_aware_p_is_never_below_the_seed_only_p_and_covers():
    """1,000 binary studies under the null with test-point effects: the seed-only test rejects far too often,
    the test-aware one near 5 %; it never reports a p below the seed-only one."""
    rng = np.random.default_rng(0)
    hits = hits_seeds = covered = 0
    for _ in range(1000):
        m, n = 6, 150
        point = (rng.random((1, n)) < 0.1) * rng.choice([-1, 1], size=(1, n))  # some points always move
        noise = (rng.random((m, n)) < 0.1) * rng.choice([-1, 1], size=(m, n))  # and any point may flip
        r = two_way_test(np.clip(point + noise, -1, 1))
        assert r["p"] >= r["p_seeds"] - 1e-12
        hits, hits_seeds = hits + (r["p"] < 0.05), hits_seeds + (r["p_seeds"] < 0.05)
        covered += r["ci_lo"] <= 0 <= r["ci_hi"]
    assert hits_seeds > 300 and 20 < hits < 90 and covered > 910


def test_two_way_small_and_degenerate():
    one = two_way_test(np.ones((1, 5)), np.zeros((1, 5)))
    assert one["score"] == 100 and math.isnan(one["p"]) and math.isnan(one["ci_lo"])
    same = two_way_test(np.ones((3, 4)), np.ones((3, 4)))
    assert same["score"] == 0 and same["p"] == 1 and same["ci_lo"] == same["ci_hi"] == 0
    with pytest.raises(MemgenError, match="differ in shape"):
        two_way_test(np.ones((3, 4)), np.ones((3, 5)))


def test_two_way_delta_on_the_same_points_is_the_test_of_the_difference():
    rng = np.random.default_rng(1)
    dv, db = (rng.integers(-1, 2, size=(6, 80)).astype(float) for _ in range(2))
    everything = np.ones(80, dtype=bool)
    r = two_way_delta(
        {"diff": dv, "keep": everything, "points": "original"},
        {"diff": db, "keep": everything, "points": "original"},
    )
    direct = two_way_test(dv - db)
    assert r["score"] == pytest.approx(direct["score"]) and r["se"] == pytest.approx(direct["se"])
    assert r["p_seeds"] == pytest.approx(sps.ttest_rel(dv.mean(axis=1), db.mean(axis=1)).pvalue)


def test_a_subsets_point_variance_is_the_point_jackknife():
    """Δ of a variant on a subset K of the baseline's points: the delta method's point component equals the
    delete-one-point jackknife of Δ (seeds fixed), computed here by brute force."""
    rng = np.random.default_rng(2)
    m, n = 4, 120
    dv, db = rng.integers(-1, 2, size=(m, n)).astype(float), rng.integers(-1, 2, size=(m, n)).astype(float)
    keep = rng.random(n) > 0.2

    def delta(cols):
        k = keep[cols]
        return dv[:, cols][:, k].mean() - db[:, cols].mean()

    loo = np.array([delta(np.delete(np.arange(n), j)) for j in range(n)])
    jackknife = (n - 1) / n * ((loo - loo.mean()) ** 2).sum()
    z = _linearized(dv, keep) - _linearized(db, np.ones(n, dtype=bool))
    assert z.mean() == pytest.approx(dv[:, keep].mean() - db.mean())
    point = z.mean(axis=0).var(ddof=1) / n
    assert point == pytest.approx(jackknife, rel=0.05)
    r = two_way_delta(
        {"diff": dv, "keep": keep, "points": "original"},
        {"diff": db, "keep": ~np.zeros(n, bool), "points": "original"},
    )
    assert r["score"] == pytest.approx(100 * (dv[:, keep].mean() - db.mean()))
    other = two_way_delta(
        {"diff": dv, "keep": keep, "points": "cifar10.1"},
        {"diff": db, "keep": ~np.zeros(n, bool), "points": "original"},
    )
    assert other["score"] == pytest.approx(r["score"]) and other["n_test"] == keep.sum() + n


def test_dropped_points_test_exact_against_a_brute_force_loop():
    import itertools

    rng = np.random.default_rng(4)
    d = rng.integers(-1, 2, size=(3, 12)).astype(float)
    keep = np.ones(12, dtype=bool)
    keep[[2, 7, 9]] = False
    r = dropped_points_test(d, keep)
    v = d.mean(axis=0)

    def delta(dropped):
        k = np.ones(12, dtype=bool)
        k[list(dropped)] = False
        return v[k].mean() - v.mean()

    observed = delta([2, 7, 9])
    null = [delta(c) for c in itertools.combinations(range(12), 3)]
    assert r["exact"] and r["n_dropped"] == 3 and r["delta"] == pytest.approx(100 * observed)
    assert r["p"] == pytest.approx(np.mean([abs(x) >= abs(observed) - 1e-12 for x in null]))
    # the kept side drawn instead (9 of 12 dropped): the same subsets, the same p
    assert dropped_points_test(d, ~keep)["p"] == pytest.approx(
        np.mean(
            [
                abs(delta(set(range(12)) - set(c))) >= abs(delta(set(range(12)) - {2, 7, 9})) - 1e-12
                for c in itertools.combinations(range(12), 3)
            ]
        )
    )


def test_dropped_points_test_by_random_subsets_is_seeded():
    rng = np.random.default_rng(5)
    d = rng.integers(-1, 2, size=(4, 400)).astype(float)
    d[:, :20] = -1  # the dropped points all lose: Δ > 0, far in the tail
    keep = np.arange(400) >= 20
    a, b = dropped_points_test(d, keep, n_perm=500, seed=7), dropped_points_test(d, keep, n_perm=500, seed=7)
    assert a == b and not a["exact"] and a["p"] == pytest.approx(1 / 501) and a["delta"] > 0
    assert dropped_points_test(d, np.ones(400, dtype=bool)) == {
        "delta": 0.0,
        "p": 1.0,
        "n_dropped": 0,
        "exact": True,
    }
    mixed = dropped_points_test(rng.integers(-1, 2, size=(4, 400)).astype(float), keep, n_perm=2000, seed=1)
    assert 0.05 < mixed["p"] < 1


def test_seed_curve_uses_the_lowest_seeds_first():
    # seeds given out of order; sorted by seed the differences are 1, 2, 3, 10
    df = pd.DataFrame({"seed": [3, 0, 2, 1], "diff_pp": [10.0, 1.0, 3.0, 2.0]})
    c = seed_curve(df, [1, 3, 4])
    assert c.columns.tolist() == ["n_seeds", "score", "std", "p"]
    assert c["n_seeds"].tolist() == [1, 3, 4]
    assert c["score"].tolist() == pytest.approx([1.0, 2.0, 4.0])
    assert math.isnan(c["p"][0])
    t = 2 * math.sqrt(3)
    assert c["p"][1] == pytest.approx(1 - t / math.sqrt(2 + t * t))
    with pytest.raises(MemgenError, match="5 seeds"):
        seed_curve(df, [5])
