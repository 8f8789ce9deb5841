import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from memgen.errors import MemgenError
from memgen.utility.stats import ablation_delta, paired_score, seed_curve

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


def test_ablation_delta_by_hand():
    # v = 1,2,3 (mean 2, var 1); b = 0,0,1,1 (mean 0.5, var 1/3). Welch: se^2 = 1/3 + 1/12 = 5/12,
    # t = 1.5 / sqrt(5/12); df = (5/12)^2 / ((1/3)^2/2 + (1/12)^2/3) = 3 exactly.
    # Student t with 3 df: CDF(t) = 1/2 + (x/(1+x^2) + atan x)/pi with x = t/sqrt 3.
    r = ablation_delta([1.0, 2.0, 3.0], [0.0, 0.0, 1.0, 1.0])
    t = 1.5 / math.sqrt(5 / 12)
    x = t / math.sqrt(3)
    p = 2 * (0.5 - (x / (1 + x * x) + math.atan(x)) / math.pi)
    assert r["delta"] == pytest.approx(1.5)
    assert r["p"] == pytest.approx(p)


def test_ablation_delta_matches_scipy_welch():
    variant = [0.1, 0.3, -0.2, 0.4, 0.0, 0.25]
    baseline = np.subtract(MEM, RAND)
    r = ablation_delta(variant, baseline)
    assert r["delta"] == pytest.approx(np.mean(variant) - 0.48)
    assert r["p"] == pytest.approx(sps.ttest_ind(variant, baseline, equal_var=False).pvalue)
    # Welch, not the pooled-variance test: the two differ on these unequal spreads
    assert r["p"] != pytest.approx(sps.ttest_ind(variant, baseline, equal_var=True).pvalue, rel=1e-6)


def test_ablation_delta_degenerate():
    itself = ablation_delta([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert itself["delta"] == 0 and itself["p"] == pytest.approx(1.0)
    short = ablation_delta([1.0], [1.0, 2.0])
    assert short["delta"] == pytest.approx(-0.5) and math.isnan(short["p"])
    assert ablation_delta([2.0, 2.0], [1.0, 1.0, 1.0]) == {"delta": 1.0, "p": 0.0}
    assert ablation_delta([1.0, 1.0], [1.0, 1.0, 1.0]) == {"delta": 0.0, "p": 1.0}
    empty = ablation_delta([], [1.0, 2.0])
    assert math.isnan(empty["delta"]) and math.isnan(empty["p"])


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
