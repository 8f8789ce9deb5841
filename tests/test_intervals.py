"""Per-point intervals (memgen.scores.intervals) and the memorized-set option that requires them
(threshold.require_interval)."""

import math

import numpy as np
import pandas as pd
import pytest

from memgen.errors import MemgenError
from memgen.scores.compute import DEFINITIONS, score_table
from memgen.scores.intervals import (
    INTERVAL_COLUMNS,
    INTERVAL_DEFINITIONS,
    bounds,
    frac_of,
    interval_columns,
    wilson,
    z_value,
)
from memgen.scores.thresholds import compute_thresholds, memorized
from memgen.utility.removal import removal_sets


def test_z_is_bonferroni_over_the_two_accuracies():
    assert z_value(0.95) == pytest.approx(2.2414, abs=1e-4)  # Phi^-1(1 - 0.05 / 4)
    for bad in (0, 1, 1.5, -0.1, True, "0.9"):
        with pytest.raises(MemgenError, match="interval level"):
            z_value(bad)


def test_wilson_ends_are_exact_at_0_and_n_and_nan_without_members():
    z = z_value(0.95)
    lo, hi = wilson(np.array([0, 12, 6, 0]), np.array([12, 12, 12, 0]), z)
    assert lo[0] == 0.0 and hi[0] == pytest.approx(z * z / (12 + z * z))  # Wilson's closed form at 0 hits
    assert hi[1] == 1.0 and lo[1] == pytest.approx(12 / (12 + z * z))
    assert lo[2] == pytest.approx(1 - hi[2]) and lo[2] < 0.5 < hi[2]  # symmetric around 1/2
    assert math.isnan(lo[3]) and math.isnan(hi[3])


def test_bounds_contain_the_point_estimates_and_follow_the_scores_conventions():
    rng = np.random.default_rng(0)
    n_in, n_out = rng.integers(0, 30, 2000), rng.integers(0, 30, 2000)
    h_in, h_out = rng.binomial(n_in, rng.random(2000)), rng.binomial(n_out, rng.random(2000))
    b = bounds(h_in, n_in, h_out, n_out)
    with np.errstate(invalid="ignore", divide="ignore"):
        a, o = h_in / n_in, h_out / n_out
    both = (n_in > 0) & (n_out > 0)
    fz, frac = a - o, frac_of(a, o)
    for name, point in (("fz", fz), ("frac", frac)):
        assert np.all(b[f"{name}_lo"][both] <= point[both] + 1e-12)
        assert np.all(point[both] <= b[f"{name}_hi"][both] + 1e-12)
        assert np.all(np.isnan(b[f"{name}_lo"][~both]))
    never = both & (h_in == 0) & (h_out == 0)  # frac 0/0 scores 0; its interval spans every score
    assert never.any() and np.all(b["frac_lo"][never] == -1) and np.all(b["frac_hi"][never] == 1)
    assert np.all(b["fz_hi"][both] - b["fz_lo"][both] <= 2)


@pytest.mark.parametrize(
    "p_in, p_out, n_in, n_out, least",
    # Wilson's coverage dips below nominal near 0 and 1 with few members (docs/decisions.md: Wilson intervals)
    [
        (0.9, 0.3, 244, 12, 0.95),
        (0.6, 0.5, 32, 32, 0.95),
        (0.99, 0.05, 244, 12, 0.95),
        (0.98, 0.02, 61, 3, 0.93),
    ],
)
def test_fz_and_frac_intervals_cover_the_level(p_in, p_out, n_in, n_out, least):
    """Joint coverage of the true fz and frac by simulation (Bonferroni over Wilson intervals)."""
    rng = np.random.default_rng(1)
    reps = 4000
    b = bounds(rng.binomial(n_in, p_in, reps), n_in, rng.binomial(n_out, p_out, reps), n_out, 0.95)
    true_fz, true_frac = p_in - p_out, (p_in - p_out) / (p_in + p_out)
    assert np.mean((b["fz_lo"] <= true_fz) & (true_fz <= b["fz_hi"])) >= least
    assert np.mean((b["frac_lo"] <= true_frac) & (true_frac <= b["frac_hi"])) >= least


def test_score_table_holds_the_interval_columns_at_the_given_level():
    rng = np.random.default_rng(2)
    mask, correct = rng.random((40, 50)) < 0.5, rng.random((40, 50)) < 0.7
    t95 = score_table(mask, correct, np.zeros(50), np.zeros(50), np.zeros(50))
    t80 = score_table(mask, correct, np.zeros(50), np.zeros(50), np.zeros(50), interval_level=0.8)
    assert set(INTERVAL_COLUMNS) <= set(t95.columns)
    assert np.all(t80["frac_hi"] - t80["frac_lo"] <= t95["frac_hi"] - t95["frac_lo"] + 1e-12)
    # from the table's own counts: the same numbers
    again = interval_columns({c: t95[c].to_numpy() for c in ("n_in", "n_out", "acc_in", "acc_out")})
    for c in INTERVAL_COLUMNS:
        np.testing.assert_allclose(again[c], t95[c].to_numpy())


def _table(scores, lows, canary=None):
    n = len(scores)
    canary = np.zeros(n, int) if canary is None else np.asarray(canary)
    return pd.DataFrame(
        {
            "canary": canary,
            "n_in": 244,
            "n_out": 12,
            "acc_in": 1.0,
            "fz": scores,
            "frac": scores,
            "conf": scores,
            "lira": scores,
            "fz_lo": lows,
            "frac_lo": lows,
        }
    )


def test_require_interval_asks_the_lower_end_to_reach_tau():
    t = _table([1.0, 1.0, 0.8, 0.5], [0.9, 0.5, 0.7, 0.1])
    assert memorized(t, "frac", 0.8, 10).tolist() == [True, True, True, False]
    assert memorized(t, "frac", 0.8, 10, require_interval=True).tolist() == [True, False, False, False]
    # conf and lira keep their point estimate (docs/decisions.md: Point estimates under require_interval)
    for definition in set(DEFINITIONS) - set(INTERVAL_DEFINITIONS):
        assert memorized(t, definition, 0.8, 10, require_interval=True).tolist() == [True, True, True, False]
    with pytest.raises(MemgenError, match="frac_lo"):
        memorized(t.drop(columns="frac_lo"), "frac", 0.8, 10, require_interval=True)


def test_thresholds_report_both_selections_and_the_option():
    t = _table([1.0] * 6 + [1.0, 0.9, 0.5], [0.5] * 6 + [0.95, 0.5, 0.1], canary=[1] * 6 + [0] * 3)
    point = compute_thresholds(t, 0.05, "upper", 0.25, 10)
    req = compute_thresholds(t, 0.05, "upper", 0.25, 10, require_interval=True)
    assert point["require_interval"] is False and req["require_interval"] is True
    p, r = point["rules"]["null"]["frac"], req["rules"]["null"]["frac"]
    assert p["tau"] == r["tau"] == 1.0  # τ comes from the canaries' scores either way
    assert (p["n_memorized"], r["n_memorized"]) == (1, 0)
    assert p["n_memorized_point"] == r["n_memorized_point"] == 1 and p["n_memorized_interval"] == 0
    assert "frac_lo" in r["note"] and "require_interval" in r["note"]
    fixed = req["rules"]["fixed"]["fz"]  # fz >= 0.25: three by the score, two by the lower end
    assert (fixed["n_memorized"], fixed["n_memorized_point"], fixed["n_memorized_interval"]) == (2, 3, 2)


def test_removal_sets_follow_the_option():
    t = _table([1.0, 1.0, 0.8, 0.5, 0.0, 0.0], [0.9, 0.5, 0.7, 0.1, -0.5, -0.5])
    assert removal_sets(t, "frac", 0.8, 10, 0)["memorized"].tolist() == [0, 1, 2]
    assert removal_sets(t, "frac", 0.8, 10, 0, require_interval=True)["memorized"].tolist() == [0]


def test_ranked_intervals_highest_score_first_ties_by_the_lower_end():
    from memgen.scores.intervals import ranked_intervals

    t = _table([0.5, 1.0, 1.0, 0.8], [0.1, 0.5, 0.9, 0.7]).assign(frac_hi=[0.6, 1.0, 1.0, 0.9])
    df = ranked_intervals(t, "frac", np.array([True, True, True, False]))
    assert list(df.columns) == ["score", "lo", "hi"] and df.index.tolist() == [0, 1, 2]
    assert df["score"].tolist() == [1.0, 1.0, 0.5] and df["lo"].tolist() == [0.9, 0.5, 0.1]


def test_fig12_job_draws_an_ensembles_intervals(tmp_path):
    import json

    from memgen.figures.jobs import write_fig_intervals

    rng = np.random.default_rng(3)
    mask, correct = rng.random((24, 60)) < 0.5, rng.random((24, 60)) < 0.7
    canary = (np.arange(60) < 10).astype(int)
    correct[:, :10] = mask[:, :10]  # canaries: right exactly when trained on
    t = score_table(mask, correct, np.zeros(60), np.zeros(60), canary)
    t.to_csv(tmp_path / "scores.csv", index=False)
    th = compute_thresholds(t, 0.05, "upper", 0.25, 2)
    (tmp_path / "t.json").write_text(json.dumps(th))
    out = [tmp_path / "f.png", tmp_path / "f.pdf"]
    write_fig_intervals(tmp_path / "scores.csv", tmp_path / "t.json", 0.95, *out)
    assert out[0].stat().st_size > 5000 and out[1].read_bytes()[:5] == b"%PDF-"
    t.drop(columns=["frac_lo"]).to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(MemgenError, match="lacks the interval columns"):
        write_fig_intervals(tmp_path / "old.csv", tmp_path / "t.json", 0.95, *out)
