"""The analysis stage file to file: tiny hand-made score tables and masks in, tables/JSON/figures out.

Hand-made reference ensemble (10 members in, 10 out for every point but E):

    point  canary  acc_in  acc_out   fz    frac
    A      1       0.9     0.0       0.9   1.0
    B      1       0.5     0.0       0.5   1.0
    C      0       0.9     0.3       0.6   0.5
    D      0       1.0     0.8       0.2   1/9
    E      0       1.0     NaN       NaN   NaN   (never held out: excluded)

fz ranks A (canary) > C (natural) > B (canary) > D (natural): catching both canaries flags C too, so
FPR@95%TPR = 1/2; canary-natural pairs ordered right: A>C, A>D, B>D, not B<C, so AUROC = 3/4; average
precision = 1/2 · 1 (A) + 1/2 · 2/3 (B) = 5/6. frac puts both canaries (1.0) above both natural points:
FPR 0, AUROC 1, AUPR 1.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest

from memgen.analysis import jobs as st
from memgen.analysis.definitions import COLUMNS as DEFINITION_COLUMNS
from memgen.errors import MemgenError
from memgen.figures import jobs as fj
from memgen.io import read_csv, save_npz
from memgen.scores.jobs import write_thresholds

NAN = math.nan


def table(rows) -> pd.DataFrame:
    """scores.csv rows from (canary, n_in, n_out, acc_in, acc_out, fz, frac)."""
    df = pd.DataFrame(rows, columns=["canary", "n_in", "n_out", "acc_in", "acc_out", "fz", "frac"])
    df.insert(0, "index", range(len(df)))
    df.insert(1, "label", 0)
    df.insert(2, "true_label", 0)
    return df.assign(conf=df["frac"], lira=df["fz"])  # copies: their own values are tests/test_scores.py's


REFERENCE = table(
    [
        (1, 10, 10, 0.9, 0.0, 0.9, 1.0),  # A
        (1, 10, 10, 0.5, 0.0, 0.5, 1.0),  # B
        (0, 10, 10, 0.9, 0.3, 0.6, 0.5),  # C
        (0, 10, 10, 1.0, 0.8, 0.2, 1 / 9),  # D
        (0, 20, 0, 1.0, NAN, NAN, NAN),  # E
    ]
)
# rate 0.5: canary A moves a lot (ignored by sampling bias); natural C's fz is 0.2 lower, frac the same
HALF = table(
    [
        (1, 5, 15, 0.1, 0.0, 0.1, 1.0),
        (1, 5, 15, 0.5, 0.0, 0.5, 1.0),
        (0, 5, 15, 0.6, 0.2, 0.4, 0.5),
        (0, 5, 15, 1.0, 0.8, 0.2, 1 / 9),
        (0, 5, 15, 1.0, 0.8, 0.2, 1 / 9),
    ]
)
ANALYSIS = {
    "ensembles": {
        "rate0.95": {"rate": 0.95, "weight_decay": 0.004, "plain": True},
        "rate0.5": {"rate": 0.5, "weight_decay": 0.004, "plain": True},
        "rate0.5-wd0.008": {"rate": 0.5, "weight_decay": 0.008, "plain": False},
    },
    "reference": "rate0.95",
    "min_out": 1,
    "stability_sizes": [4, 8],
    "seed": 0,
}


@pytest.fixture
def score_paths(tmp_path):
    paths = {}
    for name, df in [("rate0.95", REFERENCE), ("rate0.5", HALF), ("rate0.5-wd0.008", HALF)]:
        paths[name] = tmp_path / name / "scores.csv"
        st.save_csv(paths[name], df)
    return paths


def png_and_pdf(tmp_path, name):
    return tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"


def check_figure(png, pdf):
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in png.parent.iterdir() if p.name.startswith(".")) == []  # no temporaries


# ---- CSV helpers --------------------------------------------------------------------------------------
def test_save_csv_round_trip_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "t.csv"
    st.save_csv(path, pd.DataFrame({"a": [1, 2], "b": [0.5, NAN]}))
    back = pd.read_csv(path)
    assert list(back.columns) == ["a", "b"] and back["a"].tolist() == [1, 2] and math.isnan(back["b"][1])
    assert [p.name for p in path.parent.iterdir()] == ["t.csv"]


def test_read_csv_names_missing_columns_and_files(tmp_path):
    path = tmp_path / "t.csv"
    st.save_csv(path, pd.DataFrame({"a": [1]}))
    with pytest.raises(MemgenError, match=r"lacks columns \['fz'\].*Fix: delete it and rerun"):
        read_csv(path, ("a", "fz"))
    with pytest.raises(MemgenError, match="does not exist"):
        read_csv(tmp_path / "none.csv")


# ---- tables ---------------------------------------------------------------------------------------------
def test_thresholds_json_hand_values(score_paths, tmp_path):
    out = tmp_path / "thresholds.json"
    params = {"alpha": 0.5, "tail": "upper", "fixed_tau": 0.55, "min_out": 1}
    # memgen.workflow.run takes a returned value as provenance: these return None (stability its seed)
    assert write_thresholds(score_paths["rate0.95"], out, params, "digits", "mlp", "rate0.95") is None
    t = json.loads(out.read_text())
    assert (t["dataset"], t["arch"], t["ensemble"]) == ("digits", "mlp", "rate0.95")
    assert (t["null_size"], t["n_natural_scored"], t["n_excluded"]) == (2, 2, 1)
    # null fz = {0.5, 0.9}: the median (rank ceil(0.5 · 2) = 1) is 0.5; natural C (0.6) reaches it, D not
    assert t["rules"]["null"]["fz"]["tau"] == 0.5 and t["rules"]["null"]["fz"]["n_memorized"] == 1
    assert t["rules"]["null"]["fz"]["fraction_memorized"] == 0.5
    # null frac = {1, 1}: τ = 1, no natural point reaches it, and the note says so
    assert t["rules"]["null"]["frac"]["tau"] == 1.0 and t["rules"]["null"]["frac"]["n_memorized"] == 0
    assert "no natural point reaches it" in t["rules"]["null"]["frac"]["note"]
    assert t["rules"]["fixed"]["fz"]["n_memorized"] == 1 and t["rules"]["fixed"]["frac"]["n_memorized"] == 0
    assert t["canary_acc_in"]["n"] == 2 and t["canary_acc_in"]["mean"] == pytest.approx(0.7)


def test_definitions_table_hand_values(score_paths, tmp_path):
    out = tmp_path / "definitions.csv"
    assert st.write_definitions(score_paths, out, ANALYSIS, "digits", "mlp") is None
    df = pd.read_csv(out)
    assert list(df.columns) == ["dataset", "arch", "ensemble", "rate", "weight_decay", *DEFINITION_COLUMNS]
    assert set(df["dataset"]) == {"digits"} and set(df["arch"]) == {"mlp"}
    # rows by rate, then weight decay; within an ensemble all canaries, then fit ones; fz, frac, conf, lira
    assert df["ensemble"].tolist() == ["rate0.5"] * 8 + ["rate0.5-wd0.008"] * 8 + ["rate0.95"] * 8
    assert df["definition"].tolist() == ["fz", "frac", "conf", "lira"] * 6
    assert df["canaries"].tolist() == (["all"] * 4 + ["fit"] * 4) * 3
    assert df["weight_decay"].tolist() == [0.004] * 8 + [0.008] * 8 + [0.004] * 8
    ref = df[(df["ensemble"] == "rate0.95") & (df["canaries"] == "all")].set_index("definition")
    assert ref.loc["fz", "fpr_at_95tpr"] == 0.5
    assert ref.loc["fz", "auroc"] == pytest.approx(0.75)
    assert ref.loc["fz", "aupr"] == pytest.approx(5 / 6)
    assert (ref.loc["frac", "fpr_at_95tpr"], ref.loc["frac", "auroc"], ref.loc["frac", "aupr"]) == (0, 1, 1)
    assert ref[["n_canaries", "n_natural", "n_excluded"]].values.tolist() == [[2, 2, 1]] * 4
    # both canaries of the reference are fit (acc_in .9, .5): its fit rows repeat its all rows
    fit = df[(df["ensemble"] == "rate0.95") & (df["canaries"] == "fit")].set_index("definition")
    assert fit.drop(columns="canaries").equals(ref.drop(columns="canaries"))
    # at rate 0.5 every point is held out, so none is excluded; canary A (acc_in .1) is never fit
    half = df[df["ensemble"] == "rate0.5"]
    assert half["n_excluded"].tolist() == [0] * 4 + [1] * 4


def test_definitions_unknown_ensemble_is_named(score_paths, tmp_path):
    params = {**ANALYSIS, "ensembles": {"rate0.95": ANALYSIS["ensembles"]["rate0.95"]}}
    with pytest.raises(MemgenError, match="'rate0.5' has scores but no entry"):
        st.write_definitions(score_paths, tmp_path / "d.csv", params, "digits", "mlp")
    assert not (tmp_path / "d.csv").exists()


def test_sampling_bias_plain_ensembles_natural_points_only(score_paths, tmp_path):
    out = tmp_path / "sampling_bias.csv"
    assert st.write_sampling_bias(score_paths, out, ANALYSIS, "digits", "mlp") is None
    df = pd.read_csv(out)
    assert list(df.columns) == [
        "dataset", "arch", "reference", "ensemble", "rate", "weight_decay",
        "definition", "against", "points", "mae", "mae_lo", "mae_hi", "std_abs_error", "n_points", "truth_se",
        "mse", "mse_corrected", "mse_corrected_lo", "mse_corrected_hi", "rmse_corrected", "members",
    ]  # fmt: skip
    # the weight-decay variant is not plain and the reference is not compared with itself
    # (no loo.csv given: rows against the reference only, one per definition)
    n = df["definition"].nunique()
    assert df["ensemble"].tolist() == ["rate0.5"] * n and set(df["against"]) == {"reference"}
    assert (df["dataset"].tolist(), df["reference"].tolist()) == (["digits"] * n, ["rate0.95"] * n)
    fz, frac = df.set_index("definition").loc["fz"], df.set_index("definition").loc["frac"]
    # natural C and D (E has no reference score): |errors| fz = {0.2, 0}, frac = {0, 0}; canary A ignored
    assert fz["mae"] == pytest.approx(0.1) and fz["std_abs_error"] == pytest.approx(0.2 / math.sqrt(2))
    assert fz["n_points"] == 2 and (fz["rate"], fz["weight_decay"]) == (0.5, 0.004)
    assert frac["mae"] == pytest.approx(0.0) and frac["std_abs_error"] == pytest.approx(0.0)


def test_sampling_bias_needs_the_reference(score_paths, tmp_path):
    paths = {k: v for k, v in score_paths.items() if k != "rate0.95"}
    with pytest.raises(MemgenError, match="reference ensemble 'rate0.95' is not among"):
        st.write_sampling_bias(paths, tmp_path / "s.csv", ANALYSIS, "digits", "mlp")


def agreeing_ensemble(k: int = 8, n: int = 40, seed: int = 1):
    """Members that always fit what they train on, and on held-out points are right exactly on the
    even-numbered ones: every group gives fz = frac = 1 on odd points and 0 on even points, whichever
    members it holds, so any two groups rank points identically (Spearman 1)."""
    mask = np.random.default_rng(seed).random((k, n)) < 0.5
    right_out = np.arange(n) % 2 == 0
    return mask, mask | right_out[None, :]


def test_stability_table_groups_agree(tmp_path):
    mask, correct = agreeing_ensemble()
    save_npz(tmp_path / "masks.npz", mask=mask, rate=0.5)
    save_npz(tmp_path / "correct.npz", correct=correct)
    out = tmp_path / "stability.csv"
    extra = st.write_stability(
        tmp_path / "masks.npz", tmp_path / "correct.npz", out, ANALYSIS, "digits", "mlp"
    )
    assert extra == {"seeds": {"stability": 0}}
    df = pd.read_csv(out)
    assert list(df.columns) == [
        "dataset", "arch", "ensemble", "rate", "weight_decay", "members",
        "definition", "size", "n_groups", "mean_spearman", "std_spearman", "n_pairs",
    ]  # fmt: skip
    # size 8 of 8 members is a single group: no row; size 4 gives 2 groups and one pair
    assert df["size"].tolist() == [4, 4] and df["definition"].tolist() == ["fz", "frac"]
    assert df["n_groups"].tolist() == [2, 2] and df["n_pairs"].tolist() == [1, 1]
    assert df["mean_spearman"].tolist() == pytest.approx([1.0, 1.0])
    assert df["std_spearman"].isna().all()  # one pair: no spread
    assert df[["ensemble", "rate", "members"]].values.tolist() == [["rate0.95", 0.95, 8]] * 2


def test_stability_shape_mismatch_is_a_memgen_error(tmp_path):
    mask, correct = agreeing_ensemble()
    save_npz(tmp_path / "masks.npz", mask=mask)
    save_npz(tmp_path / "correct.npz", correct=correct[:, :-1])
    with pytest.raises(MemgenError, match=r"shape \(8, 40\).*\(8, 39\)"):
        st.write_stability(
            tmp_path / "masks.npz", tmp_path / "correct.npz", tmp_path / "s.csv", ANALYSIS, "digits", "mlp"
        )


# ---- figures --------------------------------------------------------------------------------------------
def test_sweep_rows_keep_only_rates_with_several_weight_decays():
    df = pd.DataFrame(
        {
            "dataset": ["digits"] * 4 + ["cifar10"] * 2,
            "arch": ["mlp"] * 6,
            "rate": [0.5, 0.5, 0.95, 0.25, 0.7, 0.7],
            "weight_decay": [0.002, 0.008, 0.004, 0.004, 5e-4, 5e-4],
        }
    )
    # digits: only rate 0.5 has two weight decays; cifar10 has none, but rows are per pair, so it has none
    assert fj.sweep_rows(df).index.tolist() == [0, 1]
    # no rate swept anywhere: every row, so the figure still shows the points
    assert fj.sweep_rows(df.iloc[2:]).index.tolist() == [2, 3, 4, 5]


def test_curve_ensembles_plain_by_rate_and_at_most_four():
    ens = {
        f"r{r}": {"rate": r, "weight_decay": 0.004, "plain": True} for r in (0.9, 0.1, 0.3, 0.5, 0.7, 0.95)
    }
    ens["wd"] = {"rate": 0.5, "weight_decay": 0.008, "plain": False}
    analysis = {"ensembles": ens}
    assert fj.curve_ensembles(analysis, ["r0.5", "wd", "r0.1"]) == ["r0.1", "r0.5"]
    # six plain ensembles, four line styles: evenly spaced picks 0, 2, 3, 5 of the rate order
    assert fj.curve_ensembles(analysis, list(ens)) == ["r0.1", "r0.5", "r0.7", "r0.95"]


def test_table_figures_from_two_pairs(score_paths, tmp_path):
    mask, correct = agreeing_ensemble()
    save_npz(tmp_path / "masks.npz", mask=mask)
    save_npz(tmp_path / "correct.npz", correct=correct)
    tables = {"definitions": [], "sampling_bias": [], "stability": []}
    for arch in ("mlp", "cnn"):
        d = tmp_path / arch
        st.write_definitions(score_paths, d / "definitions.csv", ANALYSIS, "digits", arch)
        st.write_sampling_bias(score_paths, d / "sampling_bias.csv", ANALYSIS, "digits", arch)
        st.write_stability(
            tmp_path / "masks.npz", tmp_path / "correct.npz", d / "stability.csv", ANALYSIS, "digits", arch
        )
        for name in tables:
            tables[name].append(str(d / f"{name}.csv"))
    figs = tmp_path / "figures"
    figs.mkdir()
    for write, name, inputs in [
        (fj.write_fig_sampling_bias, "fig1", tables["sampling_bias"]),
        (fj.write_fig_fpr, "fig2", tables["definitions"]),
        (fj.write_fig_sweep, "fig8", tables["definitions"]),
        (fj.write_fig_stability, "fig9", tables["stability"]),
    ]:
        write(inputs, *png_and_pdf(figs, name))
        check_figure(*png_and_pdf(figs, name))


def test_figure_inputs_must_be_analysis_tables(tmp_path, score_paths):
    # a scores.csv passed where definitions tables are expected fails with the missing columns named
    with pytest.raises(MemgenError, match="lacks columns.*'dataset'"):
        fj.write_fig_fpr([score_paths["rate0.95"]], *png_and_pdf(tmp_path, "fig2"))
    assert not png_and_pdf(tmp_path, "fig2")[0].exists()


def test_null_and_curve_figures(score_paths, tmp_path):
    thresholds = tmp_path / "thresholds.json"
    params = {"alpha": 0.05, "tail": "upper", "fixed_tau": 0.25, "min_out": 1}
    write_thresholds(score_paths["rate0.95"], thresholds, params, "digits", "mlp", "rate0.95")
    figs = tmp_path / "figures"
    figs.mkdir()
    fj.write_fig_null(score_paths["rate0.95"], thresholds, *png_and_pdf(figs, "fig3"))
    check_figure(*png_and_pdf(figs, "fig3"))
    fj.write_fig_curves(score_paths, *png_and_pdf(figs, "fig7"), ANALYSIS)
    check_figure(*png_and_pdf(figs, "fig7"))


def test_null_figure_rejects_a_foreign_json(score_paths, tmp_path):
    bad = tmp_path / "thresholds.json"
    bad.write_text('{"tau": 0.5}')
    with pytest.raises(MemgenError, match="lacks keys"):
        fj.write_fig_null(score_paths["rate0.95"], bad, *png_and_pdf(tmp_path, "fig3"))
