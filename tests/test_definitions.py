import math

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.definitions import COLUMNS, compare_definitions, detection_curves, fpr_at_tpr
from memgen.scores.thresholds import null_threshold

CANARY = [0.9, 0.8, 0.7, 0.2]
NATURAL = [0.85, 0.6, 0.5, 0.3, 0.1]
Y = np.array([1] * 4 + [0] * 5)
S = np.array(CANARY + NATURAL)


def test_fpr_at_tpr_first_point_reaching_the_tpr():
    # thresholds from the top: .9 (TP 1, FP 0), .85 (1, 1), .8 (2, 1), .7 (3, 1): TPR 3/4 first, FPR 1/5
    assert fpr_at_tpr(Y, S, tpr=0.75) == pytest.approx(0.2)
    # TPR .95 needs all 4 canaries: threshold .2, natural >= .2 are .85, .6, .5, .3 -> 4/5
    assert fpr_at_tpr(Y, S) == pytest.approx(0.8)


def test_fpr_at_tpr_matches_lower_null_threshold():
    # lower null threshold, alpha .25: descending canaries [.9, .8, .7, .2], rank ceil(.75 * 4) = 3 -> .7;
    # natural >= .7: only .85 -> 1/5, the FPR at 75 % TPR above
    tau = null_threshold(np.array(CANARY), 0.25, "lower")
    assert tau == 0.7
    assert np.mean(np.array(NATURAL) >= tau) == fpr_at_tpr(Y, S, tpr=0.75)


def test_ties_are_not_split():
    # canaries .5, .5, natural .5, .1: TPR 1/2 exists only with the whole tie at .5 -> TP 2, FP 1 -> FPR 1/2
    assert fpr_at_tpr([1, 1, 0, 0], [0.5, 0.5, 0.5, 0.1], tpr=0.5) == 0.5


def test_one_class_absent_is_nan():
    assert math.isnan(fpr_at_tpr([0, 0, 0], [0.1, 0.2, 0.3]))
    assert math.isnan(fpr_at_tpr([1, 1], [0.1, 0.2]))


def scores_table():
    rows = [  # canary, n_in, n_out, fz, frac (acc_in, acc_out in the comment)
        (1, 4, 4, 0.50, 1.0),  # c1 (.5, 0)
        (1, 4, 4, 0.25, 1.0),  # c2 (.25, 0)
        (1, 4, 4, 1.00, 1.0),  # c3 (1, 0)
        (0, 4, 4, 0.50, 1 / 3),  # n1 (1, .5)
        (0, 4, 4, 0.00, 0.0),  # n2 (1, 1)
        (0, 4, 4, 0.75, 0.6),  # n3 (1, .25): .75 / 1.25
        (0, 4, 4, 0.25, 0.2),  # n4 (.75, .5): .25 / 1.25
        (0, 8, 0, math.nan, math.nan),  # never held out: excluded
        (1, 0, 8, math.nan, math.nan),  # canary never trained on: excluded
        (0, 4, 1, 0.9, 0.9),  # held out once: in at min_out 1, out at 2
    ]
    df = pd.DataFrame(rows, columns=["canary", "n_in", "n_out", "fz", "frac"])
    # acc_in of the comments; conf and lira copy frac and fz here (their own values: tests/test_scores.py)
    acc_in = [0.5, 0.25, 1.0, 1.0, 1.0, 1.0, 0.75, 1.0, math.nan, 0.9]
    return df.assign(acc_in=acc_in, conf=df["frac"], lira=df["fz"])


def test_compare_definitions_by_hand():
    df = compare_definitions(scores_table(), min_out=2)
    assert list(df.columns) == COLUMNS
    assert df["definition"].tolist() == ["fz", "frac", "conf", "lira"] * 2
    assert df["canaries"].tolist() == ["all"] * 4 + ["fit"] * 4
    fz, frac = df.iloc[0], df.iloc[1]
    assert df.iloc[2:4, 2:].to_numpy().tolist() == df.iloc[[1, 0], 2:].to_numpy().tolist()  # the copies
    assert (fz["n_canaries"], fz["n_natural"], fz["n_excluded"]) == (3, 4, 3)
    # fz: canaries [.5, .25, 1], natural [.5, 0, .75, .25]
    # TPR 1 at threshold .25: natural >= .25 are .5, .75, .25 -> 3/4
    assert fz["fpr_at_95tpr"] == pytest.approx(0.75)
    # AUROC: canary .5 beats 0, .25, ties .5 -> 2.5; .25 beats 0, ties .25 -> 1.5; 1.0 beats all 4 -> 8/12
    assert fz["auroc"] == pytest.approx(8 / 12)
    # AP: thresholds 1 (R 1/3, P 1), .75 (R 1/3, P 1/2), .5 (R 2/3, P 2/4), .25 (R 1, P 3/6)
    # = 1/3 * 1 + 1/3 * 1/2 + 1/3 * 1/2 = 2/3
    assert fz["aupr"] == pytest.approx(2 / 3)
    # frac: every canary 1.0, every natural < 1 -> perfect separation
    assert (frac["fpr_at_95tpr"], frac["auroc"], frac["aupr"]) == (0.0, 1.0, 1.0)


def test_min_out_one_admits_the_point_held_out_once():
    df = compare_definitions(scores_table(), min_out=1)
    assert df.loc[0, "n_natural"] == 5 and df.loc[0, "n_excluded"] == 2
    # frac: the new natural point scores .9 < 1: still perfect; fz: it scores .9, above canaries .5, .25
    assert df.loc[1, "auroc"] == 1.0
    assert df.loc[0, "fpr_at_95tpr"] == pytest.approx(4 / 5)  # natural >= .25: .5, .75, .25, .9


def test_one_class_absent_gives_nan_metrics_not_a_crash():
    natural = scores_table().query("canary == 0")
    df = compare_definitions(natural, min_out=2)
    assert df[["fpr_at_95tpr", "auroc", "aupr"]].isna().all().all()
    assert df["n_canaries"].tolist() == [0] * 8 and df["n_natural"].tolist() == [4] * 8
    curves = detection_curves(natural, "fz", min_out=2)
    assert all(len(v) == 0 for v in curves.values())


def test_detection_curves():
    curves = detection_curves(scores_table(), "frac", min_out=2)
    assert set(curves) == {"fpr", "tpr", "precision", "recall"}
    # perfect separation: the ROC passes through (FPR 0, TPR 1); precision is 1 at recall 1
    assert any((f == 0) and (t == 1) for f, t in zip(curves["fpr"], curves["tpr"], strict=True))
    assert curves["precision"][curves["recall"] == 1].max() == 1.0
    fz = detection_curves(scores_table(), "fz", min_out=2)
    # fz at threshold .25 (the first with TPR 1) has FPR 3/4, as in compare_definitions
    assert fz["fpr"][np.argmax(fz["tpr"] >= 1)] == pytest.approx(0.75)


def test_fit_rows_drop_the_canaries_never_fit():
    # c2 has acc_in .25 < .5: the fit rows compare c1, c3 (fz .5, 1) with the same 4 natural points
    df = compare_definitions(scores_table(), min_out=2).set_index(["canaries", "definition"])
    fit = df.loc[("fit", "fz")]
    assert (fit["n_canaries"], fit["n_natural"], fit["n_excluded"]) == (2, 4, 4)
    # TPR 1 at threshold .5: natural >= .5 are .5, .75 -> 2/4 (over all canaries: 3/4)
    assert fit["fpr_at_95tpr"] == pytest.approx(0.5)
    assert df.loc[("all", "fz"), "fpr_at_95tpr"] == pytest.approx(0.75)
    curves = detection_curves(scores_table(), "fz", min_out=2, canaries="fit")
    assert curves["fpr"][np.argmax(curves["tpr"] >= 1)] == pytest.approx(0.5)


def test_a_definition_without_scores_gives_nan_metrics():
    # a table made without log-odds: conf and lira NaN; fz and frac are still compared
    df = compare_definitions(scores_table().assign(conf=math.nan, lira=math.nan), min_out=2)
    rows = df.set_index(["canaries", "definition"])
    assert rows.loc[("all", "conf"), ["fpr_at_95tpr", "auroc", "aupr"]].isna().all()
    assert rows.loc[("all", "frac"), "auroc"] == 1.0


def test_unknown_canary_subset_is_a_clear_error():
    from memgen.errors import MemgenError

    with pytest.raises(MemgenError, match="canary subset 'fitted'.*Fix: use 'all' or 'fit'"):
        detection_curves(scores_table(), "fz", min_out=2, canaries="fitted")


def test_detection_holds_fig7s_metrics_curves_and_natural_count():
    from memgen.analysis.definitions import CANARY_SUBSETS, detection
    from memgen.scores.compute import DEFINITIONS

    d = detection(scores_table(), min_out=2)
    pd.testing.assert_frame_equal(d["metrics"], compare_definitions(scores_table(), 2))
    assert set(d["curves"]) == {(s, x) for s in CANARY_SUBSETS for x in DEFINITIONS}
    fz = detection_curves(scores_table(), "fz", 2, "fit")
    for k, v in fz.items():
        np.testing.assert_array_equal(d["curves"][("fit", "fz")][k], v)
    assert d["n_natural"] == 4  # n1..n4; the point held out once joins at min_out 1
    assert detection(scores_table(), min_out=1)["n_natural"] == 5
