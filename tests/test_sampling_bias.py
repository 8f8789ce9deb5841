import math

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.sampling_bias import COLUMNS, loo_bias, sampling_bias
from memgen.errors import MemgenError
from memgen.scores.compute import DEFINITIONS

NAN = math.nan
OTHER = [d for d in DEFINITIONS if d not in ("fz", "frac")]  # continuous definitions: copies of frac here


def ens(fz, frac, canary=(0, 0, 0, 1)):
    return pd.DataFrame({"canary": canary, "fz": fz, "frac": frac, **{d: frac for d in OTHER}})


REF = ens([0.5, 0.2, NAN, 0.9], [0.5, 0.4, NAN, 1.0])  # point 2 unscored in the reference
A = ens([0.7, 0.1, 0.3, 0.0], [0.5, 0.1, 0.2, 0.0])
B = ens([0.5, 0.2, 0.1, 0.5], [0.5, NAN, 0.1, 0.5])


def test_sampling_bias_by_hand():
    df = sampling_bias(
        {"rate0.95": REF, "rate0.5": A, "rate0.1": B},
        {"rate0.95": 0.95, "rate0.5": 0.5, "rate0.1": 0.1},
        "rate0.95",
    )
    assert list(df.columns) == COLUMNS
    # ordered by rate, then definition; the reference gets no row; every row is against the reference
    assert df[["ensemble", "definition"]].values.tolist() == [
        [e, d] for e in ("rate0.1", "rate0.5") for d in DEFINITIONS
    ]
    assert (
        (df["against"] == "reference").all() and (df["points"] == "all").all() and df["truth_se"].isna().all()
    )
    row = df.set_index(["ensemble", "definition"])
    # A fz: natural points scored in both are 0 and 1 (2 is NaN in the reference, 3 is a canary whose
    # error .9 must not count): |.7 - .5| = .2, |.1 - .2| = .1 -> mean .15, sample std sqrt(2 * .05^2 / 1)
    a = row.loc[("rate0.5", "fz")]
    assert (a["rate"], a["n_points"]) == (0.5, 2)
    assert a["mae"] == pytest.approx(0.15) and a["std_abs_error"] == pytest.approx(math.sqrt(0.005))
    # A frac: |0|, |.1 - .4| = .3 -> mean .15, std sqrt(2 * .15^2) = .2121
    a = row.loc[("rate0.5", "frac")]
    assert a["mae"] == pytest.approx(0.15) and a["std_abs_error"] == pytest.approx(math.sqrt(0.045))
    # B fz equals the reference on points 0 and 1
    b = row.loc[("rate0.1", "fz")]
    assert (b["mae"], b["std_abs_error"], b["n_points"]) == (0.0, 0.0, 2)
    # B frac: point 1 unscored in B -> only point 0 (error 0): std undefined with one point
    b = row.loc[("rate0.1", "frac")]
    assert b["n_points"] == 1 and b["mae"] == 0.0 and math.isnan(b["std_abs_error"])


def test_no_common_point_gives_nan_not_a_crash():
    empty = ens([NAN] * 4, [NAN] * 4)
    df = sampling_bias({"ref": REF, "e": empty}, {"ref": 0.95, "e": 0.3}, "ref")
    assert df["n_points"].tolist() == [0] * len(DEFINITIONS) and df["mae"].isna().all()


def test_missing_reference_or_rate_or_other_canaries_is_a_user_error():
    with pytest.raises(MemgenError, match="reference ensemble 'rate0.95'"):
        sampling_bias({"rate0.5": A}, {"rate0.5": 0.5}, "rate0.95")
    with pytest.raises(MemgenError, match="no sampling rate"):
        sampling_bias({"ref": REF, "a": A}, {"ref": 0.95}, "ref")
    with pytest.raises(MemgenError, match="other canaries"):
        sampling_bias(
            {"ref": REF, "a": ens(A["fz"], A["frac"], (1, 0, 0, 0))}, {"ref": 0.95, "a": 0.5}, "ref"
        )


def loo(rows):
    """loo.csv rows (index, chosen, fz_loo, frac_loo); the other definitions copy frac, se 0.1 each."""
    df = pd.DataFrame(rows, columns=["index", "chosen", "fz_loo", "frac_loo"])
    for d in OTHER:
        df[f"{d}_loo"] = df["frac_loo"]
    for d in DEFINITIONS:
        df[f"{d}_loo_se"] = 0.1
        df[f"{d}_loo_var"] = 0.01
        df[f"{d}_ref_half"] = REF[d].to_numpy()[df["index"].to_numpy()]  # half B: the reference's scores here
    return df


def test_loo_rows_per_ensemble_definition_and_stratum_reference_included():
    truth = loo([(0, "top", 1.0, 1.0), (1, "random", 0.0, 0.0), (2, "random", 0.3, 0.5)])
    df = loo_bias({"rate0.95": REF, "rate0.5": A}, {"rate0.95": 0.95, "rate0.5": 0.5}, truth, "rate0.95")
    assert list(df.columns) == COLUMNS and (df["against"] == "loo").all()
    row = df.set_index(["ensemble", "definition", "points"])
    # the reference's own error: fz on random points 1 (|.2 - 0|) and 2 (NaN in the reference: left out)
    r = row.loc[("rate0.95", "fz", "random")]
    assert (r["mae"], r["n_points"], r["truth_se"]) == (pytest.approx(0.2), 1, pytest.approx(0.1))
    assert row.loc[("rate0.95", "frac", "top")]["mae"] == pytest.approx(0.5)  # |.5 - 1|
    # A fz on the random points: |.1 - 0| and |.3 - .3| -> .05; on the top point |.7 - 1| = .3
    assert row.loc[("rate0.5", "fz", "random")]["mae"] == pytest.approx(0.05)
    assert row.loc[("rate0.5", "fz", "top")]["mae"] == pytest.approx(0.3)
    # ordered by rate; random before top
    assert df["ensemble"].iloc[0] == "rate0.5" and df["points"].iloc[0] == "random"
    # an empty loo.csv (leave-one-out skipped) gives no row; a canary in loo.csv is another dataset's
    assert loo_bias({"rate0.5": A}, {"rate0.5": 0.5}, truth.iloc[:0], "rate0.95").empty
    with pytest.raises(MemgenError, match="not natural points"):
        loo_bias({"rate0.5": A}, {"rate0.5": 0.5}, loo([(3, "top", 1.0, 1.0)]), "rate0.95")


def test_the_reference_is_whole_on_the_random_points_and_half_b_on_the_top_ones():
    truth = loo([(0, "top", 1.0, 1.0), (1, "random", 0.0, 0.0), (2, "random", 0.3, 0.5)])
    half = truth.assign(fz_ref_half=[0.0, 0.0, 0.3])  # half B's scores differ from the whole ensemble's
    ref = REF.assign(n_in=[60, 60, 60, 60], n_out=[4, 4, 4, 4])  # 64 members
    row = loo_bias({"rate0.95": ref}, {"rate0.95": 0.95}, half, "rate0.95").set_index(
        ["definition", "points"]
    )
    # random: the whole reference's fz (.2 at point 1; point 2 unscored), not half B's 0: |.2 - 0|
    assert (
        row.loc[("fz", "random"), "mae"] == pytest.approx(0.2) and row.loc[("fz", "random"), "members"] == 64
    )
    # top: half B (32 members), |0 - 1|
    assert row.loc[("fz", "top"), "mae"] == 1.0 and row.loc[("fz", "top"), "members"] == 32


def test_the_references_top_error_is_cross_fitted_the_mean_of_both_directions():
    """Top points ranked by half A are reported by half B (top_a), those ranked by B by half A (top_b);
    the reference's top row is the mean of the two; other ensembles read both top sets (point 0 twice)."""
    truth = loo([(0, "top", 1.0, 1.0), (1, "top", 0.0, 0.0), (0, "top_b", 1.0, 1.0), (2, "top_b", 0.5, 0.5)])
    truth["fz_ref_half"] = [0.8, 0.2, 0.5, 0.1]  # half B on the top rows, half A on the top_b rows
    ref = REF.assign(n_in=[60] * 4, n_out=[4] * 4)
    a = A.assign(n_in=[30] * 4, n_out=[30] * 4)
    df = loo_bias({"rate0.95": ref, "rate0.5": a}, {"rate0.95": 0.95, "rate0.5": 0.5}, truth, "rate0.95")
    row = df.set_index(["ensemble", "definition", "points"])
    assert (df[df["ensemble"] == "rate0.5"]["members"] == 60).all()  # whole: independent of the rankings
    a_to_b = (0.2 + 0.2) / 2  # ranked by A, reported by B: |.8 - 1|, |.2 - 0|
    b_to_a = (0.5 + 0.4) / 2  # ranked by B, reported by A: |.5 - 1|, |.1 - .5|
    assert row.loc[("rate0.95", "fz", "top_a"), "mae"] == pytest.approx(a_to_b)
    assert row.loc[("rate0.95", "fz", "top_b"), "mae"] == pytest.approx(b_to_a)
    top = row.loc[("rate0.95", "fz", "top")]
    assert top["mae"] == pytest.approx((a_to_b + b_to_a) / 2) and top["n_points"] == 4
    assert top["mse"] == pytest.approx((0.04 + 0.04 + 0.25 + 0.16) / 4) and top["members"] == 32
    # rate 0.5's own scores (.7, .1, .3) on both sets: |.7-1|, |.1-0|; |.7-1|, |.3-.5|
    assert row.loc[("rate0.5", "fz", "top"), "mae"] == pytest.approx((0.3 + 0.1 + 0.3 + 0.2) / 4)
    assert row.loc[("rate0.5", "fz", "top_b"), "mae"] == pytest.approx(0.25)
    assert df[df["ensemble"] == "rate0.5"]["points"].unique().tolist() == ["top", "top_a", "top_b"]


def test_the_corrected_error_takes_the_truths_own_noise_out():
    # errors of A's fz on three random points: .1 - 0, .3 - .1, .7 - .2 = .1, .2, .5; LOO se .1, .1, .3
    truth = loo([(0, "random", 0.2, 0.2), (1, "random", 0.0, 0.0), (2, "random", 0.1, 0.1)])
    truth["fz_loo_var"] = [0.09, 0.01, 0.01]
    truth["fz_loo_se"] = [0.3, 0.2, 0.1]  # floored (point 1's pairs all agree): not what is subtracted
    r = loo_bias({"rate0.5": A}, {"rate0.5": 0.5}, truth, "rate0.95").set_index("definition").loc["fz"]
    assert r["mse"] == pytest.approx((0.25 + 0.01 + 0.04) / 3)
    # per point error^2 - se^2: .25 - .09 = .16, .01 - .01 = 0, .04 - .01 = .03
    v = [0.16, 0.0, 0.03]
    assert r["mse_corrected"] == pytest.approx(np.mean(v)) and r["rmse_corrected"] == pytest.approx(
        math.sqrt(np.mean(v))
    )
    half = 4.302653 * np.std(v, ddof=1) / math.sqrt(3)  # t(2 df, 97.5 %)
    assert (r["mse_corrected_lo"], r["mse_corrected_hi"]) == pytest.approx(
        (np.mean(v) - half, np.mean(v) + half)
    )
    assert r["truth_se"] == pytest.approx(math.sqrt(0.11 / 3))  # root mean variance: mse - it = corrected
    # a loo.csv from before the variance column: its se had no floor, and its square is subtracted
    old = loo_bias(
        {"rate0.5": A}, {"rate0.5": 0.5}, truth.drop(columns="fz_loo_var").assign(fz_loo_se=0.1), "x"
    )
    assert old.set_index("definition").loc["fz", "mse_corrected"] == pytest.approx(0.1 - 0.01)
    # errors within the truth's noise: the corrected mean dips below 0, its root is 0
    truth["fz_loo_var"] = [1.0, 1.0, 1.0]
    r = loo_bias({"rate0.5": A}, {"rate0.5": 0.5}, truth, "rate0.95").set_index("definition").loc["fz"]
    assert r["mse_corrected"] < 0 and r["rmse_corrected"] == 0.0
    # against the reference ensemble there is no truth se: the mse only
    ref = sampling_bias({"rate0.95": REF, "rate0.5": A}, {"rate0.95": 0.95, "rate0.5": 0.5}, "rate0.95")
    fz = ref.set_index("definition").loc["fz"]
    assert fz["mse"] == pytest.approx((0.04 + 0.01) / 2) and math.isnan(fz["mse_corrected"])


def test_each_mean_error_has_a_t_interval_over_points():
    df = sampling_bias({"rate0.95": REF, "rate0.5": A}, {"rate0.95": 0.95, "rate0.5": 0.5}, "rate0.95")
    a = df.set_index(["ensemble", "definition"]).loc[("rate0.5", "fz")]
    # errors .2 and .1: mean .15, sd .0707; t(1 df, 97.5 %) = 12.706 -> half-width .635, clipped at 0
    assert a["mae_lo"] == 0.0 and a["mae_hi"] == pytest.approx(
        0.15 + 12.706 * math.sqrt(0.005) / math.sqrt(2), abs=1e-3
    )


def test_fig1_draws_reference_and_loo_panels(tmp_path):
    from memgen.figures.measurement import fig_sampling_bias

    rows = []
    for ens, rate in (("rate0.5", 0.5), ("rate0.95", 0.95)):
        for d in DEFINITIONS:
            if ens != "rate0.95":
                rows.append(
                    (ens, rate, d, "reference", "all", 0.1, 0.08, 0.12, 0.05, 100, NAN, 0.02, *[NAN] * 4, 64)
                )
            rows += [
                (
                    ens,
                    rate,
                    d,
                    "loo",
                    p,
                    0.2 * rate,
                    0.1 * rate,
                    0.3 * rate,
                    0.1,
                    16,
                    0.05,
                    0.05,
                    0.04,
                    0,
                    0.08,
                    0.2,
                    64,
                )
                for p in ("random", "top")
            ]
    df = pd.DataFrame(rows, columns=COLUMNS).assign(dataset="digits", arch="mlp", reference="rate0.95")
    paths = [tmp_path / "fig1.png", tmp_path / "fig1.pdf"]
    fig_sampling_bias(df, paths)
    assert all(p.stat().st_size > 5000 for p in paths)
    # without leave-one-out rows (a dataset above loo.max_train_points) one panel per pair
    fig_sampling_bias(df[df["against"] == "reference"], paths)
    assert paths[0].stat().st_size > 5000
