"""The test rule (memgen.scores.fdr): Fisher's exact p-values, Benjamini–Hochberg, and its calibration null,
against scipy and hand computations; fdr.csv and Fig. 13 as files; the "test" variant's removal set."""

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from scipy.stats import fisher_exact, hypergeom

from memgen.ensemble.masks import balanced_mask
from memgen.errors import MemgenError
from memgen.scores import fdr
from memgen.scores.compute import compute_scores
from memgen.scores.thresholds import compute_thresholds, scored


# ---- p-values and BH ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "right_in, n_in, right_out, n_out",
    [
        (1, 244, 0, 12),
        (24, 244, 0, 12),
        (244, 244, 0, 12),
        (4, 4, 0, 4),
        (3, 5, 4, 7),
        (0, 6, 3, 6),
        (5, 5, 5, 5),
    ],
)
def test_p_values_are_fishers_one_sided_exact_test(right_in, n_in, right_out, n_out):
    p = fdr.one_sided_p([right_in], [n_in], [right_out], [n_out])[0]
    table = [[right_in, n_in - right_in], [right_out, n_out - right_out]]
    assert p == pytest.approx(fisher_exact(table, alternative="greater").pvalue, rel=1e-9)
    k, right = n_in + n_out, right_in + right_out
    assert p == pytest.approx(hypergeom(k, right, n_in).sf(right_in - 1), rel=1e-9)


def test_p_values_by_hand_and_where_undefined():
    p = fdr.one_sided_p([1, 4, 0, 2], [244, 4, 3, 0], [0, 0, 0, 1], [12, 4, 3, 5])
    # the one right member is an in-member with chance 244/256; all 4 right members in: 1 / C(8, 4)
    assert p[0] == pytest.approx(244 / 256) and p[1] == pytest.approx(1 / 70)
    assert p[2] == 1.0 and np.isnan(p[3])  # never right: nothing to test; no in-member: undefined


def test_benjamini_hochberg_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted 0.005, 0.01, 0.03, 0.04 (m = 4): 4 p / rank = 0.02, 0.02, 0.04, 0.04 (already monotone)
    adjusted = fdr.bh_adjusted(p)
    assert adjusted[:4] == pytest.approx([0.02, 0.04, 0.04, 0.02]) and np.isnan(adjusted[4])
    assert (adjusted <= 0.03).tolist() == [True, False, False, True, False]
    assert fdr.p_cut(p, adjusted, 0.03) == 0.01 and fdr.p_cut(p, adjusted, 0.05) == 0.04
    assert np.isnan(fdr.p_cut(p, adjusted, 0.01))  # 0.005 * 4 = 0.02 > 0.01: nothing flagged


def _step_up(p: np.ndarray, q: float) -> np.ndarray:
    """BH as written: reject every p <= p_(k), k the largest rank with p_(k) <= k q / m."""
    m = len(p)
    ranked = np.sort(p)
    passing = [k for k in range(1, m + 1) if ranked[k - 1] <= k * q / m]
    return p <= ranked[max(passing) - 1] if passing else np.zeros(m, dtype=bool)


@pytest.mark.parametrize("seed", range(5))
def test_benjamini_hochberg_matches_the_step_up_rule_with_ties(seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.choice([1e-4, 0.002, 0.01, 0.03, 0.5, 1.0], 40), rng.uniform(0, 0.05, 20)])
    adjusted = fdr.bh_adjusted(p)
    for q in (0.001, 0.01, 0.05, 0.1, 0.2):
        assert ((adjusted <= q) == _step_up(p, q)).all()


def test_a_bad_level_fails_with_one_line():
    with pytest.raises(MemgenError, match="fdr_q"):
        fdr.check_level(0.0, 0.0)
    with pytest.raises(MemgenError, match="fdr_min_effect"):
        fdr.check_level(0.05, -0.1)


# ---- synthetic members ------------------------------------------------------------------------------------
def members(seed: int, k=64, n=600, planted=0, block=16):
    """k members on n points with a balanced mask at rate 0.75; each point's ease and each member's skill set
    the chance it is right, whatever the mask (no effect), except the first `planted` points: always right
    when trained on, right when held out at a tenth of their usual rate."""
    rng = np.random.default_rng(seed)
    mask = balanced_mask(seed, k, block, n, 0.75)
    ease = rng.uniform(0.05, 0.98, n)
    skill = rng.normal(0, 0.5, k)
    correct = rng.random((k, n)) < expit(logit(ease)[None, :] + skill[:, None])
    hard = rng.random((k, planted)) < 0.1 * ease[:planted]
    correct[:, :planted] = np.where(mask[:, :planted], True, hard)
    s = compute_scores(mask, correct)
    table = pd.DataFrame({c: s[c] for c in ("n_in", "n_out", "acc_in", "acc_out", "fz", "frac")})
    return table.assign(canary=0, conf=np.nan, lira=np.nan), mask, correct


def test_the_false_discovery_share_holds_on_members_with_planted_memorization():
    """BH's promise on synthetic members: of the flagged points, at most q on average have no effect (10
    seeded ensembles of 100 memorized and 500 null points); and the memorized ones are found."""
    q = 0.1
    fdp, power = [], []
    for seed in range(10):
        scores, _, _ = members(seed, planted=100)
        v = fdr.verdicts(scores, scored(scores, 2), q)
        flagged = np.flatnonzero(v["flagged"])
        fdp.append(np.mean(flagged >= 100) if len(flagged) else 0.0)
        power.append(v["flagged"][:100].mean())
    assert np.mean(fdp) <= q and min(power) > 0.5


def test_the_calibration_null_flags_at_most_q_on_members_with_no_effect():
    """fdr.csv on ensembles where membership changes nothing: the real points and every fake mask are null,
    so each flag is false; averaged over seeds, the share of fake masks with any flag (the realized
    false-discovery rate where all points are null), the share of points flagged, and the fake share when
    real and fake are pooled stay at or below q at every level of the grid."""
    tables = []
    for seed in range(4):
        scores, mask, correct = members(seed)
        tables.append(fdr.fdr_table(scores, scored(scores, 2), mask, correct, 0.05, 0.0, seed, draws=25))
    mean = pd.concat(tables).groupby("q").mean(numeric_only=True)
    for column in ("calib_any", "calib_share", "calib_mixed_fdp"):
        assert (mean[column] <= mean.index).all(), mean[column]
    assert (mean["n_flagged"] / mean["n_tested"] <= mean.index).all()


def test_fake_masks_keep_each_points_counts_and_draw_its_in_members_at_random():
    _, mask, correct = members(0, k=16, n=50)
    perm = np.random.default_rng(1).permutation(16)
    points = np.arange(50)
    a = fdr.fake_right_in(mask, correct, perm, points)
    assert (a == (mask[perm] & correct).sum(0)).all()
    assert (mask[perm].sum(0) == mask.sum(0)).all()  # n_in and n_out stay


def test_fdr_table_columns_and_the_configured_level():
    scores, mask, correct = members(2, planted=60)
    t = fdr.fdr_table(scores, scored(scores, 2), mask, correct, 0.07, 0.0, 0, draws=3)
    assert list(t.columns) == list(fdr.FDR_COLUMNS)
    assert t["q"].tolist() == [0.001, 0.01, 0.05, 0.07, 0.1, 0.2] and t["configured"].sum() == 1
    assert (np.diff(t["n_flagged"]) >= 0).all()  # a higher q flags a superset
    v = fdr.verdicts(scores, scored(scores, 2), 0.07)
    row = t[t["configured"]].iloc[0]
    assert row["n_flagged"] == v["flagged"].sum() and row["p_cut"] == v["p_cut"]
    assert np.isnan(row["canary_power"]) and row["n_canaries"] == 0  # no canary in this ensemble
    with pytest.raises(MemgenError, match="n_in differs"):
        fdr.fdr_table(scores, scored(scores, 2), ~mask, correct, 0.05, 0.0, 0, draws=1)


def test_the_effect_size_narrows_the_set():
    scores, _, _ = members(3, planted=60)
    ok = scored(scores, 2)
    loose, strict = fdr.verdicts(scores, ok, 0.1), fdr.verdicts(scores, ok, 0.1, min_effect=0.5)
    assert (strict["flagged"] <= loose["flagged"]).all() and strict["flagged"].sum() < loose["flagged"].sum()
    assert (scores["fz"][strict["flagged"]] >= 0.5).all()


# ---- files: fdr.csv, Fig. 13, the "test" variant's removal set -------------------------------------------
def _ensemble_files(tmp_path, seed=5):
    from memgen.io import save_npz

    scores, mask, correct = members(seed, planted=40)
    scores.loc[:29, "canary"] = 1  # 30 of the planted points play canaries: members memorize them
    scores = scores.assign(index=np.arange(len(scores)), label=0, true_label=0)
    scores.to_csv(tmp_path / "scores.csv", index=False)
    save_npz(tmp_path / "masks.npz", mask=mask)
    save_npz(tmp_path / "correct.npz", correct=correct, log_odds=np.zeros(mask.shape, np.float16))
    th = compute_thresholds(scores, 0.05, "upper", 0.25, 2, fdr_q=0.1)
    th.update(dataset="digits", arch="mlp", ensemble="rate0.75")
    (tmp_path / "thresholds.json").write_text(json.dumps(th))
    return scores, th


def test_write_fdr_and_its_figure(tmp_path):
    from memgen.figures.jobs import write_fig_fdr
    from memgen.io import read_csv
    from memgen.scores.jobs import write_fdr

    _, th = _ensemble_files(tmp_path)
    params = {"q": 0.1, "min_effect": 0.0, "min_out": 2, "seed": 7}
    assert write_fdr(tmp_path / "scores.csv", tmp_path / "masks.npz", tmp_path / "correct.npz",
                     tmp_path / "fdr.csv", params) == {"seeds": {"calibration": 7}}  # fmt: skip
    t = read_csv(tmp_path / "fdr.csv", fdr.FDR_COLUMNS)
    row = t[t["q"] == 0.1].iloc[0]
    test = th["rules"]["test"]["frac"]
    assert row["n_flagged"] == test["n_memorized"]
    assert row["canary_power"] == pytest.approx(test["canary_power"])
    assert test["canary_power"] >= 0.8 and row["calib_draws"] == fdr.CALIBRATION_DRAWS
    write_fig_fdr(tmp_path / "fdr.csv", tmp_path / "thresholds.json", tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").stat().st_size > 5000 and (tmp_path / "f.pdf").exists()


def test_the_test_variant_removes_the_test_rules_set(tmp_path):
    from memgen.scores.thresholds import test_verdicts
    from memgen.utility.jobs import write_removal
    from memgen.utility.removal import load_removal
    from memgen.variants import removal_id, test_set

    scores, th = _ensemble_files(tmp_path)
    config = {"ablation": {"baseline": "rate0.7", "high_rate": "rate0.95", "definition": "lira"}}
    config["datasets"] = {"digits": {}, "cifar10": {"new_test_set": {"name": "cifar10.1"}}}
    assert removal_id(config, "test") == "rate0.95-frac-test"  # frac whatever ablation.definition says
    assert test_set(config, "digits", "test") == "dedup"
    assert test_set(config, "cifar10", "test") == "cifar10.1"
    removal = {"ensemble": "rate0.75", "definition": "frac", "rule": "test", "min_out": 2, "seed": 1}
    write_removal(tmp_path / "scores.csv", tmp_path / "thresholds.json", tmp_path / "r.npz", removal)
    sets = load_removal(tmp_path / "r.npz")
    expected = np.flatnonzero(test_verdicts(scores, th)["flagged"])
    assert len(expected) == th["rules"]["test"]["frac"]["n_memorized"] > 0
    assert sets["memorized"].tolist() == expected.tolist() and len(sets["random"]) == len(expected)
    assert sets["reason"] == ""


def test_an_undefined_test_set_removes_nothing(tmp_path):
    from memgen.utility.jobs import write_removal
    from memgen.utility.removal import load_removal

    scores, _ = _ensemble_files(tmp_path)
    fit = {"ok": False, "problems": ["members fit 12.0% of their own natural training points on average"]}
    fit |= {"fix": "raise training.epochs", "train_acc": {"mean": 0.12}, "dead_fraction": 0.0}
    th = compute_thresholds(scores, 0.05, "upper", 0.25, 2, {**fit, "canary_acc_in": {"mean": 0.0}})
    (tmp_path / "thresholds.json").write_text(json.dumps(th))
    removal = {"ensemble": "rate0.75", "definition": "frac", "rule": "test", "min_out": 2, "seed": 1}
    write_removal(tmp_path / "scores.csv", tmp_path / "thresholds.json", tmp_path / "r.npz", removal)
    sets = load_removal(tmp_path / "r.npz")
    assert sets["memorized"].size == 0 and sets["reason"].startswith("memorized set undefined")


def test_thresholds_and_scores_that_disagree_fail_with_one_line(tmp_path):
    from memgen.scores.thresholds import test_verdicts

    scores, th = _ensemble_files(tmp_path)
    for d in ("fz", "frac"):
        th["rules"]["test"][d]["n_memorized"] += 1
    with pytest.raises(MemgenError, match="rerun the thresholds rule"):
        test_verdicts(scores, th)


def test_grid_holds_the_configured_level_once():
    assert fdr.q_grid(0.05) == list(fdr.Q_GRID)
    assert fdr.q_grid(0.3) == [*fdr.Q_GRID, 0.3]
    assert all(a < b for a, b in itertools.pairwise(fdr.q_grid(0.07)))


def test_the_summary_gives_both_rules_and_what_each_answers(tmp_path):
    from test_thresholds import tie_study

    from memgen.report import _memorized_table, test_rule_lines

    th = compute_thresholds(tie_study(), 0.05, "upper", 0.25, 10)
    text = "\n".join(test_rule_lines(th))
    assert "Eq. 3 (the null rule; fz 30, frac 32 points) answers how memorized a point must look" in text
    assert "The test rule (30 points) answers which points' in-members beat their held-out members" in text
    assert "at most 5 % of the flagged expected to be false" in text
    assert "it flags 98 % of the scored canaries (its power), and 30 of its points are in Eq. 3's" in text
    rows = "\n".join(_memorized_table(th))
    assert "test rule (BH, q = 0.05)" in rows and "30 (9.0 %)" in rows
    assert test_rule_lines({"rules": {"null": {}}}) == []  # a thresholds.json made before the test rule


def test_a_table_without_acc_out_leaves_the_test_rule_undefined():
    from test_thresholds import tie_study

    out = compute_thresholds(tie_study().drop(columns="acc_out"), 0.05, "upper", 0.25, 10)
    assert out["rules"]["test"]["frac"]["n_memorized"] is None
    assert "lacks ['acc_out']" in out["rules"]["test"]["frac"]["note"]
    assert out["rules"]["null"]["frac"]["n_memorized"] == 32  # Eq. 3 does not read it
