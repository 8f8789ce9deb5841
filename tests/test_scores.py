"""Eq. 1, Eq. 2, conf and lira on small masks whose scores are worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from memgen.ensemble.outputs import save_outputs
from memgen.errors import MemgenError
from memgen.io import load_npz, save_npz
from memgen.scores.compute import compute_scores, score_table
from memgen.scores.jobs import write_scores

T, F = True, False
# 4 members x 6 points.
MASK = np.array(
    [
        [T, T, T, F, T, T],
        [T, F, T, F, T, T],
        [F, T, F, F, T, F],
        [F, F, F, F, T, F],
    ]
)
CORRECT = np.array(
    [
        [T, T, F, T, T, T],
        [T, T, F, F, T, F],
        [F, T, F, T, F, T],
        [F, F, F, F, F, T],
    ]
)
# point 0: in {0,1} both right, out {2,3} both wrong   -> acc_in 1,   acc_out 0,   fz 1,    frac 1
# point 1: in {0,2} both right, out {1,3}: 1 of 2      -> acc_in 1,   acc_out .5,  fz .5,   frac .5/1.5 = 1/3
# point 2: never right, in {0,1} out {2,3}             -> acc_in 0,   acc_out 0,   fz 0,    frac 0/0 -> 0
# point 3: never in (out of all 4), 2 of 4 right       -> acc_in NaN, acc_out .5,  fz NaN,  frac NaN
# point 4: in all 4, 2 right, never held out           -> acc_in .5,  acc_out NaN, fz NaN,  frac NaN
# point 5: in {0,1}: 1 right, out {2,3}: both right -> acc_in .5,  acc_out 1,   fz -.5,  frac -.5/1.5 = -1/3


def test_hand_worked_scores():
    s = compute_scores(MASK, CORRECT)
    np.testing.assert_array_equal(s["n_in"], [2, 2, 2, 0, 4, 2])
    np.testing.assert_array_equal(s["n_out"], [2, 2, 2, 4, 0, 2])
    np.testing.assert_allclose(s["acc_in"], [1, 1, 0, np.nan, 0.5, 0.5])
    np.testing.assert_allclose(s["acc_out"], [0, 0.5, 0, 0.5, np.nan, 1])
    np.testing.assert_allclose(s["fz"], [1, 0.5, 0, np.nan, np.nan, -0.5])
    np.testing.assert_allclose(s["frac"], [1, 1 / 3, 0, np.nan, np.nan, -1 / 3])


def test_ties_and_definition_difference():
    # two points with the same fz but different acc levels: frac separates them, fz ties
    mask = np.array([[T, T], [T, T], [F, F], [F, F]])
    correct = np.array([[T, T], [T, F], [F, F], [F, F]])
    # point 0: acc_in 1, acc_out 0 -> fz 1, frac 1; point 1: acc_in .5, acc_out 0 -> fz .5, frac 1
    s = compute_scores(mask, correct)
    np.testing.assert_allclose(s["fz"], [1.0, 0.5])
    assert s["frac"][0] == s["frac"][1] == 1.0  # a tie: both only ever right when trained on
    # identical columns give identical scores exactly
    s2 = compute_scores(np.tile(mask[:, :1], (1, 3)), np.tile(correct[:, :1], (1, 3)))
    assert len(set(s2["fz"])) == 1 and len(set(s2["frac"])) == 1


def test_shape_mismatch():
    with pytest.raises(ValueError, match="differ in shape"):
        compute_scores(MASK, CORRECT[:, :3])


def test_score_table_rows():
    label = [0, 1, 2, 3, 4, 5]
    true = [0, 1, 9, 3, 4, 5]
    canary = [F, F, T, F, F, F]
    t = score_table(MASK, CORRECT, label, true, canary)
    assert list(t["index"]) == list(range(6))
    assert list(t["canary"]) == [0, 0, 1, 0, 0, 0]
    assert t.loc[2, "true_label"] == 9 and t.loc[2, "label"] == 2
    assert t.loc[1, "frac"] == pytest.approx(1 / 3)
    assert {"n_in", "n_out", "acc_in", "acc_out", "fz", "frac"} <= set(t.columns)


def _ensemble(root, mask=MASK, correct=CORRECT, classes=10):
    """canaries.npz, masks.npz and one compact outputs file per member, right exactly where `correct`."""
    k, n = mask.shape
    label = np.arange(n) % classes
    save_npz(root / "canaries.npz", label=label, true_label=label, canary=np.zeros(n, bool))
    save_npz(root / "masks.npz", mask=mask)
    paths = []
    for m in range(k):
        pred = np.where(correct[m], label, (label + 1) % classes)
        log_odds = np.where(correct[m], 1.0, -1.0) * (m + np.arange(n) / 8)
        path = root / "members" / str(m) / "outputs.npz"
        train = {"pred": pred, "margin": log_odds, "log_odds": log_odds}
        save_outputs(path, {"train": train}, seed_id=np.int64(m))
        paths.append(path)
    return paths


def test_write_scores_reads_member_predictions_in_mask_row_order(tmp_path):
    paths = _ensemble(tmp_path)
    write_scores(
        tmp_path / "canaries.npz", tmp_path / "masks.npz", paths, tmp_path / "s.csv", tmp_path / "c.npz"
    )
    c = load_npz(tmp_path / "c.npz", ["correct", "log_odds"])
    np.testing.assert_array_equal(c["correct"], CORRECT)
    assert c["log_odds"].dtype == np.float16 and c["log_odds"].shape == MASK.shape
    assert (
        c["log_odds"][3, 5] == np.float16(3 + 5 / 8)
        and c["log_odds"][3, 4] == np.float16(-3.5)
        and c["log_odds"][0, 0] == 0
    )
    table = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_allclose(table["fz"], compute_scores(MASK, CORRECT)["fz"])
    # conf and lira from the members' log-odds as correct.npz stores them (float16)
    expected = compute_scores(MASK, CORRECT, c["log_odds"])
    np.testing.assert_allclose(table[["conf", "lira"]], np.c_[expected["conf"], expected["lira"]], rtol=1e-12)
    assert table["conf"].notna().tolist() == table["fz"].notna().tolist()


def test_write_scores_rejects_members_of_another_dataset_or_layout(tmp_path):
    paths = _ensemble(tmp_path)
    save_outputs(paths[2], {"train": {f: np.zeros(5) for f in ("pred", "margin", "log_odds")}})
    args = (tmp_path / "canaries.npz", tmp_path / "masks.npz", paths, tmp_path / "s.csv", tmp_path / "c.npz")
    with pytest.raises(MemgenError, match=r"5 training points, the dataset has 6.*Fix: delete it and rerun"):
        write_scores(*args)
    save_npz(paths[2], train=np.zeros((6, 10), np.float16), seed_id=np.int64(2))
    with pytest.raises(MemgenError, match="old layout"):
        write_scores(*args)
    with pytest.raises(MemgenError, match="3 member outputs for a mask of 4 members"):
        write_scores(args[0], args[1], paths[:3], *args[3:])
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "c.npz").exists()


# ---- conf and lira: the label's probability p = sigmoid(log-odds) instead of 0/1 correctness ----------
L3 = np.log(3.0)  # log-odds of p = .75 (and -L3 of p = .25)


def test_conf_by_hand():
    mask = np.array([[T, T], [T, T], [F, F], [F, F]])
    log_odds = np.array([[L3, 0.0], [L3, 0.0], [-L3, 0.0], [0.0, 0.0]])
    s = compute_scores(mask, np.ones_like(mask), log_odds)
    # point 0: p_in (.75 + .75) / 2 = .75, p_out (.25 + .5) / 2 = .375 -> .375 / 1.125 = 1/3
    # point 1: p .5 everywhere -> 0 (while fz and frac, all members right, are 0 too)
    np.testing.assert_allclose(s["conf"], [1 / 3, 0.0])


def lira_of(t):
    return t / np.sqrt(1 + t**2)


def test_lira_by_hand_pools_the_variance_of_small_sides():
    mask = np.array([[T, T], [T, T], [F, F], [F, F]])
    log_odds = np.array([[1.0, 0.0], [3.0, 2.0], [-1.0, 0.0], [1.0, 0.0]])
    s = compute_scores(mask, np.ones_like(mask), log_odds)
    # in: means 2, 1, variances 2, 2 (pool 2); out: means 0, 0, variances 2, 0 (pool 1). Two members a
    # side (< LIRA_PER_POINT_MIN): both points use the pools -> t = (mu_in - mu_out) / sqrt(2 + 1)
    t = np.array([2.0, 1.0]) / np.sqrt(3.0)
    np.testing.assert_allclose(s["lira"], lira_of(t))


def test_lira_per_point_variance_with_enough_members():
    from memgen.scores.compute import LIRA_PER_POINT_MIN

    k = 2 * LIRA_PER_POINT_MIN
    mask = np.zeros((k, 2), dtype=bool)
    mask[: k // 2] = True
    z = np.tile(np.array([[-1.0], [1.0]]), (k // 2, 2))  # alternating -1, +1: variance k/2 / (k/2 - 1)
    log_odds = np.where(mask, 3 + z * [1, 2], z)  # point 1's in-members spread twice as far
    s = compute_scores(mask, np.ones_like(mask), log_odds)
    v = (k // 2) / (k // 2 - 1)
    np.testing.assert_allclose(s["lira"], lira_of(3 / np.sqrt([2 * v, 5 * v])))


def test_conf_and_lira_nan_cases_and_bounds():
    s = compute_scores(MASK, CORRECT)  # no log-odds: conf and lira undefined
    assert np.isnan(s["conf"]).all() and np.isnan(s["lira"]).all()
    rng = np.random.default_rng(0)
    log_odds = rng.normal(0, 40, MASK.shape)  # saturated members: p near 0 or 1
    s = compute_scores(MASK, CORRECT, log_odds)
    # points 3 (never in) and 4 (never out) are NaN under every definition; the others lie in [-1, 1]
    for d in ("fz", "frac", "conf", "lira"):
        assert np.isnan(s[d]).tolist() == [F, F, F, T, T, F], d
        assert (np.abs(s[d][[0, 1, 2, 5]]) <= 1).all(), d
    # every member equally confident: no spread on either side (variance floored), no difference -> 0
    flat = compute_scores(MASK[:, :3], CORRECT[:, :3], np.full((4, 3), 2.0))
    np.testing.assert_array_equal(flat["lira"], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(flat["conf"], [0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="log-odds"):
        compute_scores(MASK, CORRECT, log_odds[:, :3])


def test_lira_separations_far_apart_do_not_tie():
    # in-members at +20 and +30, out-members at -20: t of 40 and 50 standard deviations, where
    # 2 Phi(t) - 1 would be 1.0 for both; lira keeps them apart, below 1
    mask = np.array([[T, T], [T, T], [F, F], [F, F]])
    log_odds = np.array([[20.0, 30.0], [20.0, 30.0], [-20.0, -20.0], [-20.0, -20.0]])
    lira = compute_scores(mask, np.ones_like(mask), log_odds)["lira"]
    assert lira[0] < lira[1] < 1.0


def test_conf_and_lira_blocks_give_the_same_scores(monkeypatch):
    import memgen.scores.compute as sc

    rng = np.random.default_rng(1)
    mask, log_odds = rng.random((40, 50)) < 0.5, rng.normal(size=(40, 50))
    whole = compute_scores(mask, mask, log_odds)
    monkeypatch.setattr(sc, "_CHUNK", 7)
    blocks = compute_scores(mask, mask, log_odds)
    for d in ("conf", "lira"):
        np.testing.assert_allclose(blocks[d], whole[d], rtol=1e-13)
