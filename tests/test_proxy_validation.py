"""Spearman intervals, precision and recall at k, AUROC and the validation table of
memgen.proxies.validation, on cases whose values are worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from memgen.errors import MemgenError
from memgen.proxies.definitions import COLUMNS, PROXIES
from memgen.proxies.validation import (
    VALIDATION_COLUMNS,
    auroc,
    precision_recall_at,
    spearman_ci,
    validate,
)

T, F = True, False


def test_spearman_of_monotone_data_is_one():
    a = np.arange(20.0)
    rho, lo, hi, n = spearman_ci(a, a**3)
    assert (rho, n) == (pytest.approx(1.0), 20)
    assert lo <= rho <= hi and lo == pytest.approx(1.0)
    assert spearman_ci(a, -a)[0] == pytest.approx(-1.0)


def test_hand_worked_interval():
    # ranks differ by 1, 1, 1, 1, 0: rho = 1 - 6 * 4 / (5 * 24) = 0.8; se = sqrt((1 + 0.32) / 2) = 0.8124;
    # z = atanh(0.8) = 1.0986, z +- 1.96 * se -> tanh: -0.4571, 0.9908
    a, b = [1, 2, 3, 4, 5, np.nan, 7], [2, 1, 4, 3, 5, 6, np.inf]  # the last two pairs are dropped
    rho, lo, hi, n = spearman_ci(a, b)
    assert n == 5
    assert rho == pytest.approx(0.8)
    assert lo == pytest.approx(-0.45712, abs=1e-4) and hi == pytest.approx(0.99084, abs=1e-4)
    # a narrower level gives a narrower interval around the same rho
    _, lo80, hi80, _ = spearman_ci(a, b, level=0.8)
    assert lo < lo80 < 0.8 < hi80 < hi


def test_interval_contains_rho_and_narrows_with_n():
    rng = np.random.default_rng(0)
    widths = []
    for n in (30, 300, 3000):
        x = rng.normal(size=n)
        rho, lo, hi, m = spearman_ci(x, x + rng.normal(size=n))
        assert (
            m == n and lo < rho < hi and 0.4 < rho < 0.9
        )  # population value 6 / pi * asin(1 / (2 sqrt 2)) = 0.69
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2] and widths[2] < 0.05


def test_undefined_spearman_is_nan_not_an_error():
    for a, b, n in (
        ([1, 2, 3], [3, 1, 2], 3),
        ([1, 1, 1, 1, 1], [1, 2, 3, 4, 5], 5),
        ([np.nan] * 6, range(6), 0),
    ):
        rho, lo, hi, m = spearman_ci(a, b)
        assert math.isnan(rho) and math.isnan(lo) and math.isnan(hi) and m == n
    with pytest.raises(MemgenError, match="level 1.5"):
        spearman_ci([1, 2, 3, 4], [1, 2, 3, 4], level=1.5)


def test_precision_and_recall_by_hand():
    score = [0.9, 0.8, 0.8, 0.1, 0.5]
    memorized = [T, F, T, F, F]
    # k = 2: point 0, then the tie at 0.8 goes to the lower index 1: one hit
    assert precision_recall_at(score, memorized) == (0.5, 0.5, 2)
    # k = 3: points 0, 1, 2: both memorized points
    p, r, k = precision_recall_at(score, memorized, k=3)
    assert (p, r, k) == (pytest.approx(2 / 3), 1.0, 3)
    # a NaN score ranks last, even below a low one
    assert precision_recall_at([np.nan, 0.0, 1.0], [T, F, F], k=2) == (0.0, 0.0, 2)
    assert all(math.isnan(v) for v in precision_recall_at(score, [F] * 5)[:2])
    p, r, k = precision_recall_at(score, memorized, k=0)
    assert math.isnan(p) and math.isnan(r) and k == 0
    with pytest.raises(MemgenError, match="top k = 6 of 5"):
        precision_recall_at(score, memorized, k=6)


def test_auroc():
    pos, neg = np.array([T, T, F, F, F]), np.array([F, F, T, T, T])
    assert auroc([5, 4, 3, 2, 1], pos, neg) == 1.0
    assert auroc([1, 2, 3, 4, 5], pos, neg) == 0.0
    assert auroc([1, 1, 1, 1, 1], pos, neg) == 0.5
    # positives 4, 2 against negatives 3, 1, 0: 5 of 6 pairs ordered right
    assert auroc([4, 2, 3, 1, 0], pos, neg) == pytest.approx(5 / 6)
    assert math.isnan(auroc([1, 2, 3, 4, 5], pos & False, neg))
    assert math.isnan(auroc([np.nan, np.nan, 3, 2, 1], pos, neg))  # no positive with a score


# 10 points: 0..7 natural, with fz rising 0, .1, ... .7 (NaN at point 0); 8 and 9 canaries with fz -1, which
# would break every correlation below if canaries took part
N = 10
CANARY = np.array([F] * 8 + [T, T])
FZ = np.r_[np.nan, np.arange(1, 8) / 10, -1.0, -1.0]
MEMORIZED = np.array([F, F, F, F, F, F, T, T, F, T])  # natural 6, 7 (k = 2) and canary 9
COST = {"models": 4, "epochs": 25, "reference_model_epochs": 2000}


def _proxies():
    """Every proxy over all models rises with fz once oriented (margin and learning_speed fall); model 0
    alone has points 5 and 7 swapped. Canaries 8, 9 rank highest."""
    order = np.arange(N, dtype=float)
    alone = order[[0, 1, 2, 3, 4, 7, 6, 5, 8, 9]]
    columns = {"index": np.arange(N)}
    for name, (sign, _) in PROXIES.items():
        columns[f"{name}_1"], columns[name] = sign * alone, sign * order
    return pd.DataFrame(columns, columns=list(COLUMNS))


def _reference():
    return pd.DataFrame({"index": np.arange(N), "fz": FZ, "frac": FZ * 2})


def test_validate_table_by_hand():
    v = validate(_proxies(), _reference(), MEMORIZED, CANARY, None, COST)
    assert tuple(v.columns) == VALIDATION_COLUMNS
    assert list(zip(v["proxy"], v["models"], strict=True)) == [(p, m) for p in PROXIES for m in ("1", "all")]
    every, alone = v[v["models"] == "all"], v[v["models"] == "1"]
    # natural points 1..7 (point 0 has no fz); over all models the oriented proxy follows fz exactly
    assert (v["n_natural"] == 7).all()
    np.testing.assert_allclose(every[["spearman_fz", "spearman_frac"]], 1.0)
    # model 0: ranks 1, 2, 3, 4, 7, 6, 5 against 1..7: sum d^2 = 8, rho = 1 - 6 * 8 / (7 * 48) = 6 / 7
    np.testing.assert_allclose(alone[["spearman_fz", "spearman_frac"]], 6 / 7)
    assert (alone["spearman_fz_lo"] < 6 / 7).all() and (alone["spearman_fz_hi"] > 6 / 7).all()
    # top 2 natural: all models 7, 6 (both memorized); model 0 alone 5, 6 (one)
    assert (v["k"] == 2).all()
    np.testing.assert_allclose(every[["precision_at_k", "recall_at_k"]], 1.0)
    np.testing.assert_allclose(alone[["precision_at_k", "recall_at_k"]], 0.5)
    assert (v["auroc_canary"] == 1.0).all() and (v["n_canary"] == 2).all()
    # no leave-one-out sample
    assert v[["spearman_loo", "spearman_loo_lo", "spearman_loo_hi"]].isna().all().all()
    assert (v["n_loo"] == 0).all()
    # cost: one model 25 epochs, all 4 x 25 = 100, against 2000
    assert list(alone["model_epochs"]) == [25] * 6 and list(every["model_epochs"]) == [100] * 6
    np.testing.assert_allclose(alone["cost_ratio"], 0.0125)
    np.testing.assert_allclose(every["cost_ratio"], 0.05)
    assert (v["reference_model_epochs"] == 2000).all()


def test_margin_falls_as_fz_rises_gives_positive_spearman():
    proxies = _proxies()
    assert proxies["margin"].is_monotonic_decreasing  # raw margin falls with fz
    v = validate(proxies, _reference(), MEMORIZED, CANARY, None, COST).set_index(["proxy", "models"])
    assert v.loc[("margin", "all"), "spearman_fz"] == pytest.approx(1.0)
    # the same raw values read as a +1 proxy would rank the other way
    flipped = proxies.assign(final_loss=proxies["margin"])
    w = validate(flipped, _reference(), MEMORIZED, CANARY, None, COST).set_index(["proxy", "models"])
    assert w.loc[("final_loss", "all"), "spearman_fz"] == pytest.approx(-1.0)


def test_leave_one_out_sample():
    # canary 9 included: the loo sample is every sampled point; model 0 alone reads 1, 3, 7, 9 there
    loo = pd.DataFrame({"index": [9, 1, 5, 3, 2], "loo": [0.9, 0.1, 0.5, 0.3, np.nan]})
    v = validate(_proxies(), _reference(), MEMORIZED, CANARY, loo, COST)
    assert (v["n_loo"] == 4).all()
    np.testing.assert_allclose(v["spearman_loo"], 1.0)
    bad = pd.DataFrame({"index": [3, 42], "loo": [0.1, 0.2]})
    with pytest.raises(MemgenError, match=r"points \[42\]"):
        validate(_proxies(), _reference(), MEMORIZED, CANARY, bad, COST)


def test_reference_rows_are_matched_by_index():
    shuffled = _reference().iloc[::-1].drop(index=4)  # point 4 unmeasured
    v = validate(_proxies(), shuffled, MEMORIZED, CANARY, None, COST)
    assert (v["n_natural"] == 6).all()
    np.testing.assert_allclose(v.loc[v["models"] == "all", "spearman_fz"], 1.0)


@pytest.mark.parametrize(
    "args, message",
    [
        ({"memorized": MEMORIZED[:5]}, "memorized and"),
        ({"reference": _reference().drop(columns="frac")}, r"reference scores lacks columns \['frac'\]"),
        (
            {"proxies": _proxies().drop(columns="curvature_1")},
            r"proxies table lacks columns \['curvature_1'\]",
        ),
        ({"cost": {"models": 4, "epochs": 25}}, r"cost lacks \['reference_model_epochs'\]"),
    ],
)
def test_bad_inputs_fail(args, message):
    call = {
        "proxies": _proxies(),
        "reference": _reference(),
        "memorized": MEMORIZED,
        "canary": CANARY,
        "loo": None,
        "cost": COST,
    }
    with pytest.raises(MemgenError, match=message):
        validate(**(call | args))
