import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from utility_helpers import from_points, outcomes

from memgen.utility.jobs import with_replicates
from memgen.utility.replicates import table1_combined
from memgen.utility.runs import utility_frame
from memgen.utility.tables import TABLE1_COLUMNS, TABLE3_COLUMNS, table1, table3


def frame(mem, rnd, n_removed=10, test_set="original", cls=None):
    """utility table from accuracies in %, seeds 0..n-1."""

    def pct(x):
        return {s: v / 100 for s, v in enumerate(x)}

    extra = () if cls is None else (pct(cls),)  # the class-matched control's accuracies, where given
    return utility_frame(pct(mem), pct(rnd), n_removed, test_set, *extra)


# baseline differences 1, 2, 3 pp (mean 2, sd 1); variant differences 3, 4, 5 (mean 4, sd 1)
BASE = frame([81.0, 82.0, 83.0], [80.0, 80.0, 80.0], n_removed=30)
VAR = frame([83.0, 84.0, 85.0], [80.0, 80.0, 80.0], n_removed=12)


def test_table1_scores_deltas_and_empty_variant():
    df = table1(
        [
            {"dataset": "digits", "arch": "mlp", "variant": "baseline", "utility": BASE, "reason": ""},
            {"dataset": "digits", "arch": "mlp", "variant": "null threshold", "utility": None}
            | {"reason": "tau undefined"},
            {"dataset": "digits", "arch": "mlp", "variant": "frac", "utility": VAR, "reason": ""},
            {"dataset": "toy", "arch": "cnn", "variant": "baseline", "utility": None}
            | {"reason": "nothing reaches tau"},
            {"dataset": "toy", "arch": "cnn", "variant": "frac", "utility": VAR, "reason": ""},
        ]
    )
    assert df.columns.tolist() == list(TABLE1_COLUMNS)
    base, empty, frac, toy_base, toy_frac = (df.iloc[i] for i in range(5))
    assert base["score_pp"] == pytest.approx(2.0) and base["std_pp"] == pytest.approx(1.0)
    t = 2 * math.sqrt(3)  # df 2: two-sided p = 1 - t / sqrt(2 + t^2)
    assert base["p_seeds"] == pytest.approx(1 - t / math.sqrt(2 + t * t))
    assert math.isnan(base["p_value"]) and "no per-test-point outcomes" in base["note"]  # no points given
    assert (
        base["delta_pp"] == 0 and base["delta_p_seeds"] == pytest.approx(1.0) and "baseline" in base["note"]
    )
    assert base["seeds"] == 3 and base["n_removed"] == 30
    assert empty["n_removed"] == 0 and empty["seeds"] == 0 and empty["note"] == "tau undefined"
    assert math.isnan(empty["score_pp"]) and math.isnan(empty["delta_pp"]) and math.isnan(empty["p_value"])
    # Δ per seed 2, 2, 2: the same on every seed, a paired t-test's limit (p 0), where Welch gave 0.04
    assert frac["delta_pp"] == pytest.approx(2.0) and frac["delta_p_seeds"] == 0.0
    assert frac["n_removed"] == 12
    assert toy_base["n_removed"] == 0 and "nothing reaches tau" in toy_base["note"]
    assert toy_frac["score_pp"] == pytest.approx(4.0)
    assert math.isnan(toy_frac["delta_pp"]) and "baseline has no memorized points" in toy_frac["note"]


def test_delta_is_paired_by_seed_as_scipy_ttest_rel():
    """Variant and baseline share utility seed ids: Δ's seed test is ttest_rel of the per-seed differences."""
    b = [1.0, 2.0, 3.0, 5.0]
    v = [2.0, 2.5, 4.5, 5.0]
    base = frame([80 + x for x in b], [80.0] * 4)
    var = frame([80 + x for x in v], [80.0] * 4)
    row = table1(
        [
            {"dataset": "d", "arch": "a", "variant": n, "utility": u, "reason": ""}
            for n, u in (("baseline", base), ("frac", var))
        ]
    ).iloc[1]
    assert row["delta_pp"] == pytest.approx(np.mean(v) - np.mean(b))
    assert row["delta_p_seeds"] == pytest.approx(sps.ttest_rel(v, b).pvalue)
    assert row["delta_p_seeds"] != pytest.approx(sps.ttest_ind(v, b, equal_var=False).pvalue)


def _concentrated(m=20, n=200):
    """Memorized removal costs the same 3 test points on every seed, and one more (seeds 0-9) or one fewer
    (seeds 10-19) elsewhere: per-seed differences -2 and -1 pp, so a seed-only test says p ~ 1e-10, but the
    1.5 pp rest on 3 of 200 test points."""
    o = outcomes([0] * m, n=n, base=150)
    mem = o["correct"]["random"].copy()
    mem[:, :3] = False  # the 3 points every memorized-removed run gets wrong
    for s in range(m):  # seed noise, each seed on its own test point
        j = 3 + s if s < m // 2 else 150 + s
        mem[s, j] = not mem[s, j]
    o["correct"]["memorized"] = mem
    o["correct"]["random_class"] = o["correct"]["random"]
    return o


def test_table3_test_aware_p_counts_the_test_points():
    """Seed-only p is tiny, yet the difference sits on 3 test points: a new test set would likely not show
    it. The test-aware interval covers 0 and its p is not significant."""
    o = _concentrated()
    df = table3([{"dataset": "d", "arch": "a", "utility": from_points(o), "points": o, "reason": ""}])
    r = df.iloc[0]
    assert r["diff_pp"] == pytest.approx(-1.5) and r["p_value"] > 0.05  # dd74f4b: p 6e-11, the seeds' test
    assert df.columns.tolist() == list(TABLE3_COLUMNS)
    assert df["control"].tolist() == ["random", "class_matched"]
    assert r["p_seeds"] < 1e-8
    assert r["ci_lo_pp"] < 0 < r["ci_hi_pp"] and not r["significant_0.05"]
    assert r["n_test"] == 200 and r["seeds"] == 20


def test_table3_row_per_dataset_arch_and_control():
    one_seed = frame([70.0], [71.0], n_removed=3, test_set="dedup", cls=[70.0])
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
    # a frame without the class-matched control's runs gives only the random row
    assert df[["arch", "control"]].values.tolist() == [
        ["mlp", "random"], ["cnn", "random"], ["tiny", "random"], ["tiny", "class_matched"],
        ["mlp", "random"], ["mlp", "class_matched"],
    ]  # fmt: skip
    mlp, cnn, tiny, tiny_class, toy, _ = (df.iloc[i] for i in range(6))
    assert mlp["acc_memorized_removed"] == pytest.approx(82.0) and mlp[
        "acc_control_removed"
    ] == pytest.approx(80.0)
    assert mlp["diff_pp"] == pytest.approx(2.0) and mlp["std_pp"] == pytest.approx(1.0)
    assert mlp["test_set"] == "original" and mlp["seeds"] == 3 and mlp["n_removed"] == 30
    assert mlp["p_seeds"] == pytest.approx(0.0742, abs=1e-4)
    assert pd.isna(mlp["significant_0.05"]) and math.isnan(mlp["p_value"])  # no per-point outcomes
    # differences -0.5 and +0.5: mean 0, so t = 0 and p = 1
    assert cnn["diff_pp"] == pytest.approx(0.0) and cnn["p_seeds"] == pytest.approx(1.0)
    assert tiny["diff_pp"] == pytest.approx(-1.0) and math.isnan(tiny["p_seeds"])
    assert "fewer than 2 seeds" in tiny["note"] and tiny_class["diff_pp"] == pytest.approx(0.0)
    assert toy["n_removed"] == 0 and toy["note"] == "tau undefined" and toy["test_set"] == "dedup"


def _dedup_pair(rng_seed=0, m=6, n=360):
    """Baseline on all n points; dedup drops 2 points every run gets right, from the same runs."""
    rng = np.random.default_rng(rng_seed)
    o = outcomes([0] * m, n=n, base=n)  # every control run right everywhere
    mem = np.ones((m, n), dtype=bool)
    mem[:, 2:] = rng.random((m, n - 2)) > 0.01  # memorized removal: ~1 % of points wrong, at random
    o["correct"]["memorized"] = mem
    o["correct"]["random_class"] = o["correct"]["random"]
    keep = np.ones(n, dtype=bool)
    keep[:2] = False
    dedup = {**o, "keep": keep, "test_set": "dedup"}
    return o, dedup


def test_an_evaluation_only_variant_is_tested_over_test_points():
    """dedup reuses the baseline's runs and drops 2 always-right test points: Δ = Score·2/358 over seeds,
    whose seed t-test is the baseline's own. Its Δ is tested over test points instead."""
    base_o, dedup_o = _dedup_pair()
    rows = [
        {
            "dataset": "d",
            "arch": "a",
            "variant": "baseline",
            "utility": from_points(base_o),
            "points": base_o,
        },
        {"dataset": "d", "arch": "a", "variant": "dedup", "utility": from_points(dedup_o), "points": dedup_o},
    ]
    from memgen.utility.stats import dropped_points_test

    base, dedup = table1([r | {"reason": ""} for r in rows]).to_dict("records")
    assert dedup["evaluation_only"] and not base["evaluation_only"] and "evaluation-only" in dedup["note"]
    assert dedup["delta_pp"] == pytest.approx(dedup["score_pp"] - base["score_pp"])
    assert dedup["delta_pp"] == pytest.approx(base["score_pp"] * 2 / 358)
    assert math.isnan(dedup["delta_p_seeds"]) and math.isnan(dedup["delta_ci_lo_pp"])
    expected = dropped_points_test(base_o["correct"]["memorized"].astype(float) - 1.0, dedup_o["keep"])
    assert dedup["delta_p_value"] == pytest.approx(expected["p"]) and expected["exact"]
    # the 2 dropped points are like most others (no change): nothing to see, unlike the baseline's p
    assert dedup["delta_p_value"] > 0.5 and base["p_seeds"] < 0.01
    assert dedup["delta_p_value"] != pytest.approx(base["p_seeds"])


def test_the_combined_evaluation_only_delta_gets_no_t_test_over_replicates():
    """Over replicates, Δ_r = Score_r·2/358: a t-test over replicates of Δ is exactly the baseline's."""
    rows = []
    for r, d in enumerate(("d", "d.rep2", "d.rep3")):
        base_o, dedup_o = _dedup_pair(r)
        rows += [
            {
                "dataset": d,
                "arch": "a",
                "variant": "baseline",
                "utility": from_points(base_o),
                "points": base_o,
            },
            {
                "dataset": d,
                "arch": "a",
                "variant": "dedup",
                "utility": from_points(dedup_o),
                "points": dedup_o,
            },
        ]
    t = with_replicates(table1([r | {"reason": ""} for r in rows]), table1_combined)
    combined = t[t["replicate"] == "combined"].set_index("variant")
    assert combined.loc["baseline", "p_value"] < 0.05  # the baseline's t-test over replicates
    # dd74f4b: delta_p_value 0.0069, the baseline's own p over replicates
    assert combined.loc["dedup", "delta_p_value"] != pytest.approx(combined.loc["baseline", "p_value"])
    assert math.isnan(combined.loc["dedup", "delta_p_value"]) and math.isnan(
        combined.loc["dedup", "delta_p_seeds"]
    )
    assert "no t-test over replicates" in combined.loc["dedup", "note"]
    each = t[t["replicate"] != "combined"].set_index(["replicate", "variant"])
    assert combined.loc["dedup", "delta_pp"] == pytest.approx(
        np.mean([each.loc[(r, "dedup"), "delta_pp"] for r in ("1", "2", "3")])
    )


def test_a_variant_with_its_own_runs_on_the_dedup_subset_gets_a_test_aware_delta():
    """all (own runs) on the de-duplicated subset vs the baseline on the whole set: paired by seed, its
    test-aware p is not smaller than the seed-only one here (the points add variance)."""
    base_o, dedup_o = _dedup_pair(0)
    _, other = _dedup_pair(5)
    other["removal"] = "all-runs"
    rows = [
        {
            "dataset": "d",
            "arch": "a",
            "variant": "baseline",
            "utility": from_points(base_o),
            "points": base_o,
        },
        {"dataset": "d", "arch": "a", "variant": "all", "utility": from_points(other), "points": other},
    ]
    _, row = table1([r | {"reason": ""} for r in rows]).to_dict("records")
    assert not row["evaluation_only"]
    dv, db = from_points(other)["diff_pp"], from_points(base_o)["diff_pp"]
    assert row["delta_p_seeds"] == pytest.approx(sps.ttest_rel(dv, db).pvalue)
    assert row["delta_ci_lo_pp"] < row["delta_pp"] < row["delta_ci_hi_pp"]
