import math

import pandas as pd
import pytest

from memgen.utility.runs import utility_frame
from memgen.utility.tables import TABLE1_COLUMNS, TABLE3_COLUMNS, table1, table3


def frame(mem, rnd, n_removed=10, test_set="original"):
    """utility table from accuracies in %, seeds 0..n-1."""
    return utility_frame(
        {s: m / 100 for s, m in enumerate(mem)}, {s: r / 100 for s, r in enumerate(rnd)}, n_removed, test_set
    )


# baseline differences 1, 2, 3 pp (mean 2, sd 1); variant differences 3, 4, 5 (mean 4, sd 1)
BASE = frame([81.0, 82.0, 83.0], [80.0, 80.0, 80.0], n_removed=30)
VAR = frame([83.0, 84.0, 85.0], [80.0, 80.0, 80.0], n_removed=12)


def test_table1_scores_deltas_and_empty_variant():
    df = table1(
        [
            {"dataset": "digits", "arch": "mlp", "variant": "baseline", "utility": BASE, "reason": ""},
            {
                "dataset": "digits",
                "arch": "mlp",
                "variant": "null threshold",
                "utility": None,
                "reason": "tau undefined",
            },
            {"dataset": "digits", "arch": "mlp", "variant": "frac", "utility": VAR, "reason": ""},
            {
                "dataset": "toy",
                "arch": "cnn",
                "variant": "baseline",
                "utility": None,
                "reason": "nothing reaches tau",
            },
            {"dataset": "toy", "arch": "cnn", "variant": "frac", "utility": VAR, "reason": ""},
        ]
    )
    assert df.columns.tolist() == list(TABLE1_COLUMNS)
    base, empty, frac, toy_base, toy_frac = (df.iloc[i] for i in range(5))
    assert base["score_pp"] == pytest.approx(2.0) and base["std_pp"] == pytest.approx(1.0)
    t = 2 * math.sqrt(3)  # df 2: two-sided p = 1 - t / sqrt(2 + t^2)
    assert base["p_value"] == pytest.approx(1 - t / math.sqrt(2 + t * t))
    assert (
        base["delta_pp"] == 0 and base["delta_p_value"] == pytest.approx(1.0) and base["note"] == "baseline"
    )
    assert base["seeds"] == 3 and base["n_removed"] == 30
    assert empty["n_removed"] == 0 and empty["seeds"] == 0 and empty["note"] == "tau undefined"
    assert math.isnan(empty["score_pp"]) and math.isnan(empty["delta_pp"]) and math.isnan(empty["p_value"])
    # Welch with equal variances 1 and n 3 + 3: t = 2 / sqrt(2/3), df = 4;
    # Student t with 4 df: two-sided p = 1 - x (3 - x^2) / 2 with x = t / sqrt(t^2 + 4)
    x = (2 / math.sqrt(2 / 3)) / math.sqrt((2 / math.sqrt(2 / 3)) ** 2 + 4)
    assert frac["delta_pp"] == pytest.approx(2.0)
    assert frac["delta_p_value"] == pytest.approx(1 - x * (3 - x * x) / 2)
    assert frac["n_removed"] == 12
    assert toy_base["n_removed"] == 0 and "nothing reaches tau" in toy_base["note"]
    assert toy_frac["score_pp"] == pytest.approx(4.0)
    assert math.isnan(toy_frac["delta_pp"]) and "baseline has no memorized points" in toy_frac["note"]


def test_table3_row_per_dataset_arch():
    one_seed = frame([70.0], [71.0], n_removed=3, test_set="dedup")
    df = table3(
        [
            {"dataset": "digits", "arch": "mlp", "utility": BASE, "reason": ""},
            {"dataset": "digits", "arch": "cnn", "utility": frame([80.0, 80.5], [80.5, 80.0]), "reason": ""},
            {"dataset": "digits", "arch": "tiny", "utility": one_seed, "reason": ""},
            {
                "dataset": "toy",
                "arch": "mlp",
                "utility": None,
                "reason": "tau undefined",
                "test_set": "dedup",
            },
        ]
    )
    assert df.columns.tolist() == list(TABLE3_COLUMNS)
    mlp, cnn, tiny, toy = (df.iloc[i] for i in range(4))
    assert mlp["acc_memorized_removed"] == pytest.approx(82.0) and mlp["acc_random_removed"] == pytest.approx(
        80.0
    )
    assert mlp["diff_pp"] == pytest.approx(2.0) and mlp["std_pp"] == pytest.approx(1.0)
    assert mlp["test_set"] == "original" and mlp["seeds"] == 3 and mlp["n_removed"] == 30
    assert not mlp["significant_0.05"]  # p = 0.074
    # differences -0.5 and +0.5: mean 0, so t = 0 and p = 1
    assert cnn["diff_pp"] == pytest.approx(0.0) and cnn["p_value"] == pytest.approx(1.0)
    assert tiny["diff_pp"] == pytest.approx(-1.0) and math.isnan(tiny["p_value"])
    assert tiny["significant_0.05"] is pd.NA and "fewer than 2 seeds" in tiny["note"]
    assert toy["n_removed"] == 0 and toy["note"] == "tau undefined" and toy["test_set"] == "dedup"
    significant = table3([{"dataset": "d", "arch": "a", "utility": VAR, "reason": ""}]).iloc[0]
    t = 4 * math.sqrt(3)  # differences 3, 4, 5: mean 4, sd 1, df 2 -> p = 0.0202
    assert significant["p_value"] == pytest.approx(1 - t / math.sqrt(2 + t * t))
    assert significant["significant_0.05"]
