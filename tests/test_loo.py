"""Exact leave-one-out (memgen.loo.truth, memgen.loo.jobs): point choice, scores, the stage on real digits
models, and in the workflow: loo.csv is written and a larger loo.random only adds jobs."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

import memgen.config as mc
from memgen.errors import MemgenError
from memgen.io import load_npz, save_npz
from memgen.loo import jobs as st
from memgen.loo.truth import (
    COLUMNS,
    chosen_points,
    halves,
    loo_pool,
    loo_scores,
    loo_table,
    random_ranking,
    score_columns,
    top_ranking,
)
from memgen.paths import POINTS_PER_JOB
from memgen.paths import loo_groups as groups
from memgen.scores.compute import DEFINITIONS, compute_scores, confidence_stats, pooled_variances


def test_groups_split_a_stratum_into_jobs_of_fixed_positions():
    assert groups(0) == []
    assert groups(5, 8) == [(0, 5)]
    assert groups(20, 8) == [(0, 8), (8, 16), (16, 20)]
    # a larger stratum keeps the earlier full jobs as they were
    assert groups(24, 8)[:2] == groups(20, 8)[:2]


def test_top_ranking_natural_scored_points_by_frac_then_fz_then_index():
    scores = pd.DataFrame(
        {
            "index": range(7),
            "canary": [1, 0, 0, 0, 0, 0, 0],
            "fz": [1.0, 0.5, 0.8, 0.8, np.nan, 0.1, 0.0],
            "frac": [1.0, 1.0, 1.0, 1.0, np.nan, 0.2, 0.0],
        }
    )
    # canary 0 and unscored 4 never; the frac-1.0 ties by fz (0.8 twice: by index), then the rest
    assert top_ranking(scores).tolist() == [2, 3, 1, 5, 6]
    with pytest.raises(MemgenError, match="lack columns"):
        top_ranking(scores.drop(columns="frac"))


def test_random_ranking_is_seeded_natural_and_stratified_apart_from_scores():
    canary = np.zeros(200, bool)
    canary[::10] = True
    a, b, c = random_ranking(canary, 1), random_ranking(canary, 1), random_ranking(canary, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert sorted(a.tolist()) == np.flatnonzero(~canary).tolist()  # every natural point once, no canary
    assert chosen_points(a, 0, 8).tolist() == a[:8].tolist()
    assert chosen_points(a, 176, 184).tolist() == a[176:].tolist()  # 180 natural points: 4 left
    assert len(chosen_points(a, 184, 192)) == 0


POOL = (1.0, 1.0)  # lira's fixed variances in these hand-made cases


def test_loo_scores_by_hand():
    # 4 seeds, 3 points: 0 fit in, never out (fz = frac = 1); 1 always right (0, 0); 2: 3/4 in, 1/4 out
    full = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 0]], bool)
    loo = np.array([[0, 1, 1], [0, 1, 0], [0, 1, 0], [0, 1, 0]], bool)
    lo = np.where(full, 2.0, -2.0).astype(np.float32)
    df = loo_scores(full, lo, loo, np.where(loo, 2.0, -2.0).astype(np.float32), POOL)
    assert df["n_full"].tolist() == [4, 4, 4] and df["n_loo"].tolist() == [4, 4, 4]
    assert df["acc_full"].tolist() == [1, 1, 0.75] and df["acc_loo"].tolist() == [0, 1, 0.25]
    assert df["fz_loo"].tolist() == [1, 0, 0.5]
    assert df["frac_loo"].tolist() == pytest.approx([1, 0, 0.5])
    # points whose models all agree get the add-one floor, 1 / (M + 1) for fz, not 0; point 2's pair
    # differences are 0, 1, 0, 1 (seed 0..3): the paired t-based se, no floor
    assert df["fz_loo_se"].tolist()[:2] == [0.2, 0.2]
    assert df["fz_loo_se"][2] == pytest.approx(np.std([0, 1, 0, 1], ddof=1) / 2)  # paired t-based se
    assert all(f"{d}_loo" in df and f"{d}_loo_se" in df for d in DEFINITIONS)
    with pytest.raises(MemgenError, match="must all be"):
        loo_scores(full, lo, loo[:3], lo[:3], POOL)


def test_the_jackknife_se_is_floored_where_every_pair_agrees():
    """All 2M models agree: the jackknife over pairs is 0, the add-one floor is the jackknife over M + 1 pairs
    with one pseudo-pair, an observed pair with one model turned, root-mean-square over the 2M choices."""
    M = 4
    full, loo = np.ones((M, 3), bool), np.array([[0, 1, 0]] * M, bool)
    fl, ll = np.where(full, 2.0, -2.0), np.where(loo, 2.0, -2.0)
    df = loo_scores(full, fl, loo, ll, POOL)
    assert (df[[f"{d}_loo_se" for d in DEFINITIONS]] > 0).all().all()
    # fz: M pair differences equal and one off by 1: sd sqrt(1 / (M + 1)) over sqrt(M + 1) pairs
    assert df["fz_loo_se"].tolist() == [pytest.approx(1 / (M + 1))] * 3
    # the jackknife variance itself stays unfloored (0): the unbiased one a mean over points subtracts
    assert (df["fz_loo_var"] == 0).all() and (df["frac_loo_var"] == 0).all()
    # frac of point 0 (right in, never out): turning a full model gives 4/5 in, 0 out: frac 1 in every
    # replicate (no spread); turning a held-out model gives 1 in, 1/5 out: replicates 3/5 (x4, a pair dropped)
    # and 1 (the pseudo-pair dropped), jackknife variance 4/5 * (4 * .08^2 + .32^2) = .1024; half of each
    assert df["frac_loo_se"][0] == pytest.approx(np.sqrt(0.1024 / 2))
    # point 1 (always right): turning either model gives replicates 1/7 (x4) and 0: variance .0131 both ways
    assert df["frac_loo_se"][1] == pytest.approx(np.sqrt(4 / 5 * (4 * (1 / 7 - 4 / 35) ** 2 + (4 / 35) ** 2)))


def test_a_points_loo_scores_depend_on_its_own_models_only():
    rng = np.random.default_rng(0)
    M, P = 8, 6
    full, loo = rng.random((M, P)) < 0.9, rng.random((M, P)) < 0.5
    fl, ll = rng.normal(2, 1, (M, P)), rng.normal(0, 1, (M, P))
    before = loo_scores(full, fl, loo, ll, POOL)
    loo2, ll2 = loo.copy(), ll.copy()
    loo2[:, 1], ll2[:, 1] = ~loo2[:, 1], ll2[:, 1] - 3.0  # only point 1's held-out models change
    after = loo_scores(full, fl, loo2, ll2, POOL)
    for column in [c for c in before.columns if c.endswith("_loo") or c.endswith("_loo_se")]:
        moved = np.flatnonzero(~np.isclose(before[column], after[column], equal_nan=True))
        assert set(moved) <= {1}, column
    assert not np.isclose(before["lira_loo"][1], after["lira_loo"][1])  # not vacuous
    # the same point scored alone gets the same score
    alone = loo_scores(full[:, [0]], fl[:, [0]], loo[:, [0]], ll[:, [0]], POOL)
    assert alone.iloc[0].to_dict() == pytest.approx(before.iloc[0].to_dict())


def test_lira_pool_is_the_references_in_and_out_alike():
    rng = np.random.default_rng(1)
    ref_mask = rng.random((64, 300)) < 0.5
    ref = np.where(
        ref_mask, rng.normal(0, 2.0, (64, 300)), rng.normal(0, 0.5, (64, 300))
    )  # in variance 4, out variance 0.25
    var_in, var_out = loo_pool(ref_mask, ref)
    assert var_in == pytest.approx(4.0, rel=0.1) and var_out == pytest.approx(0.25, rel=0.1)
    # exactly the pools the reference's own lira uses for a side of < 32 members
    assert (var_in, var_out) == pooled_variances(confidence_stats(ref_mask, ref))


def test_halves_rank_without_the_winners_curse():
    """A synthetic null, every point with one truth (p_in = 1, p_out = 0.1, frac 0.818): the half that
    did not rank the top points errs as much there as on random points; the ranking half looks worse."""
    rng = np.random.default_rng(2)
    K, N, top = 256, 3000, 100
    mask = rng.random((K, N)) < 0.95
    correct = np.where(mask, True, rng.random((K, N)) < 0.1)
    a, b = halves(mask, correct)
    truth = 0.9 / 1.1
    chosen = top_ranking({"index": np.arange(N), "canary": np.zeros(N, int), **a})[:top]
    sample = rng.choice(N, top, replace=False)

    def error(scores, points):
        return np.nanmean(np.abs(scores["frac"][points] - truth))

    noise = np.nanstd(np.abs(b["frac"] - truth)) / np.sqrt(top)
    assert abs(error(b, chosen) - error(b, sample)) < 3 * noise
    # not vacuous: ranking and reporting with the same members (the whole ensemble) is the curse
    whole = compute_scores(mask, correct)
    ranked = top_ranking({"index": np.arange(N), "canary": np.zeros(N, int), **whole})[:top]
    assert error(whole, ranked) > error(whole, sample) + 0.04


def test_loo_table_rows_per_stratum_in_ranking_order():
    M, N = 3, 10
    full = np.ones((M, N), bool)
    strata = {
        "random": {
            "index": np.array([7, 2]),
            "correct": np.zeros((M, 2), bool),
            "log_odds": np.zeros((M, 2)),
        },
        "top": {"index": np.array([5]), "correct": np.ones((M, 1), bool), "log_odds": np.ones((M, 1))},
        "top_b": {"index": np.array([5, 3]), "correct": np.ones((M, 2), bool), "log_odds": np.ones((M, 2))},
    }
    half_a = {d: np.linspace(0, 9, N) for d in DEFINITIONS}
    half_b = {d: np.linspace(0, 0.9, N) for d in DEFINITIONS}
    df = loo_table(strata, full, np.ones((M, N)), np.arange(N) % 3, [""] * N, POOL, (half_a, half_b))
    assert list(df.columns) == [*COLUMNS, *score_columns()]
    assert df[["index", "chosen", "rank"]].values.tolist() == [
        [5, "top", 0],
        [5, "top_b", 0],
        [3, "top_b", 1],
        [7, "random", 0],
        [2, "random", 1],
    ]
    assert df["label"].tolist() == [2, 2, 0, 1, 2] and (df["canary"] == 0).all()
    assert df["fz_loo"].tolist() == [0, 0, 0, 1, 1]
    # the half that did not rank a stratum reports it: B on top (and random), A on top_b
    assert df["frac_ref_half"].tolist() == pytest.approx([0.5, 5, 3, 0.7, 0.2])
    empty = loo_table({}, np.zeros((0, 0)), np.zeros((0, 0)), [], [], POOL)
    assert empty.empty and list(empty.columns) == [*COLUMNS, *score_columns()]
    with pytest.raises(MemgenError, match="do not match the full models"):
        loo_table({"top": {**strata["top"], "index": np.array([11])}}, full, full, [0] * N, [""] * N, POOL)


def test_write_loo_scores_lira_on_the_references_pools_in_and_out(tmp_path):
    """lira's leave-one-out variances are the reference's pools on both sides (as its own lira's), not the
    full models' seed-only in-variance beside the reference's out-variance."""
    from memgen.io import save_json

    rng = np.random.default_rng(3)
    N, K, M, P = 40, 48, 4, 5
    canary = np.zeros(N, bool)
    canary[:4] = True
    save_npz(
        tmp_path / "index.npz", n=N, labels=np.zeros(N, int), num_classes=2, classes=np.array(["a", "b"])
    )
    save_npz(tmp_path / "canaries.npz", label=np.zeros(N, int), canary=canary)
    save_json(tmp_path / "plan.json", {"n": N, "max_train_points": N, "run": True, "reason": ""})
    ref_mask = rng.random((K, N)) < 0.5
    ref_lo = np.where(ref_mask, rng.normal(3, 2.0, (K, N)), rng.normal(0, 1.0, (K, N))).astype(np.float32)
    save_npz(tmp_path / "masks.npz", mask=ref_mask)
    save_npz(tmp_path / "correct.npz", correct=ref_lo > 0, log_odds=ref_lo)
    full_lo = rng.normal(3, 0.1, (M, N)).astype(np.float32)  # seed-only spread: far below the reference's
    save_npz(tmp_path / "full.npz", correct=full_lo > 0, log_odds=full_lo)
    idx = np.arange(10, 10 + P)
    loo_lo = rng.normal(1, 0.5, (M, P)).astype(np.float32)
    save_npz(tmp_path / "random.npz", index=idx, correct=loo_lo > 0, log_odds=loo_lo)
    paths = {"plan": tmp_path / "plan.json", "full": tmp_path / "full.npz", "index": tmp_path / "index.npz"}
    paths |= {"canaries": tmp_path / "canaries.npz", "strata": {"random": [tmp_path / "random.npz"]}}
    paths |= {"ref_masks": tmp_path / "masks.npz", "ref_correct": tmp_path / "correct.npz"}
    st.write_loo(paths, tmp_path / "loo.csv", "d", "a")
    got = pd.read_csv(tmp_path / "loo.csv")["lira_loo"].to_numpy()
    pool = pooled_variances(confidence_stats(ref_mask, ref_lo))
    mask = np.r_[np.ones((M, P), bool), np.zeros((M, P), bool)]
    lo = np.r_[full_lo[:, idx], loo_lo]
    want = compute_scores(mask, lo > 0, lo, pool=pool)["lira"]
    assert got == pytest.approx(want, rel=1e-6)
    assert pool[0] == pytest.approx(4.0, rel=0.2)  # not the full models' 0.01


def test_top_b_is_the_top_of_half_bs_scores_and_top_stays_half_as(tmp_path):
    """Cross-fitting's second top set: the points half B (odd members) scores highest, from the same
    reference, canaries excluded; the top stratum's points are still half A's."""
    K, N = 8, 12
    canary = np.zeros(N, np.int8)
    canary[[0, 11]] = 1
    k = np.arange(K)[:, None]
    mask = np.broadcast_to(k >= 4, (K, N))  # members 0-3 hold every point out
    # held out, half A's members are right on the late points, half B's on the early ones
    early = np.arange(N) < N // 2
    correct = mask | np.where(k % 2 == 0, ~early[None, :], early[None, :])
    save_npz(tmp_path / "masks.npz", mask=mask)
    save_npz(tmp_path / "correct.npz", correct=correct)
    save_npz(tmp_path / "canaries.npz", canary=canary)
    paths = {"canaries": tmp_path / "canaries.npz", "ref_masks": tmp_path / "masks.npz"}
    paths["ref_correct"] = tmp_path / "correct.npz"
    a, b = halves(mask, correct)
    got = {s: st.job_points(paths, {"stratum": s, "first": 0, "last": 3}).tolist() for s in ("top", "top_b")}
    assert got["top_b"] == top_ranking({"index": np.arange(N), "canary": canary, **b})[:3].tolist()
    assert got["top"] == top_ranking({"index": np.arange(N), "canary": canary, **a})[:3].tolist()
    # half A's frac is 1 on the early natural points (1-5: in right, out wrong), half B's on the late ones
    assert got["top"] == [1, 2, 3] and got["top_b"] == [6, 7, 8]
    assert st.job_points(paths, {"stratum": "top_b", "first": 3, "last": 8}).tolist() == [9, 10, 1, 2, 3]


# ---- the stage on real (tiny) digits models ------------------------------------------------------------
def test_stage_writes_loo_csv_from_real_models(tmp_path):
    from memgen.data.jobs import write_canaries
    from memgen.data.loaders import load_digits

    cfg = yaml.safe_load(open("tests/configs/tiny.yaml"))
    cfg["training"]["epochs"] = 2
    cfg["datasets"]["digits"]["archs"]["mlp"] = {"model": {"hidden": 8}}
    cfg = mc.validate(cfg)
    ds = load_digits()
    n = len(ds.y_train)
    index = tmp_path / "index.npz"
    save_npz(index, n=n, labels=ds.y_train, num_classes=10, classes=np.array([str(c) for c in range(10)]))
    canaries = tmp_path / "canaries.npz"
    write_canaries(str(index), "digits", {"fraction": 0.05, "seed": 3}, str(canaries))
    canary = load_npz(canaries, ["canary"])["canary"]
    # a made-up reference of 20 members: members 0-3 hold every point out, and half A's (0, 2) get the late
    # points right: half A's frac is 1 on the early natural points, 0 on the late ones
    K = 20
    k_out = np.arange(K)[:, None]
    ref_mask = np.broadcast_to(k_out >= 4, (K, n))  # members 0-3 hold every point out
    correct = ref_mask | ((k_out % 2 == 0) & (np.linspace(0, 1, n) > 0.5)[None, :])
    save_npz(tmp_path / "masks.npz", mask=ref_mask)
    save_npz(
        tmp_path / "correct.npz", correct=correct, log_odds=np.where(correct, 2.0, -2.0).astype(np.float32)
    )

    plan = tmp_path / "plan.json"
    st.write_plan(index, {"max_train_points": n - 1}, plan)
    assert not st.plan_runs(plan)
    st.write_plan(index, {"max_train_points": n}, plan)
    assert st.plan_runs(plan)

    params = {
        "training": mc.member_recipe(cfg, "digits", "mlp", "rate0.95"),
        "loader": mc.loader_spec(cfg, "digits", new_test_set=False),
        "seeds": [11, 12],
    }
    ref = {"ref_masks": tmp_path / "masks.npz", "ref_correct": tmp_path / "correct.npz"}
    paths = {"index": index, "canaries": canaries, **ref}
    st.write_full(cfg, "digits", "mlp", paths, params, tmp_path / "full.npz", tmp_path / "r.pt")
    full = load_npz(tmp_path / "full.npz", ["correct", "log_odds", "seeds"])
    assert full["correct"].shape == (2, n) and full["seeds"].tolist() == [11, 12]
    out = {}
    for stratum, first, last in (("top", 0, 2), ("random", 0, 3)):
        p = {**params, "stratum": stratum, "first": first, "last": last, "random_seed": 5}
        out[stratum] = tmp_path / f"{stratum}.npz"
        st.write_removed(cfg, "digits", "mlp", paths, p, out[stratum], tmp_path / "r.pt")
    top = load_npz(out["top"], ["index", "correct"])
    natural = np.flatnonzero(~canary.astype(bool))
    assert top["index"].tolist() == natural[:2].tolist()  # frac 1, ties by index
    assert top["correct"].shape == (2, 2)
    rnd = load_npz(out["random"], ["index"])["index"]
    assert rnd.tolist() == random_ranking(canary, 5)[:3].tolist()
    # a job past the natural points trains nothing and writes empty arrays
    p = {**params, "stratum": "random", "first": n, "last": n + 8, "random_seed": 5}
    st.write_removed(cfg, "digits", "mlp", paths, p, tmp_path / "none.npz", tmp_path / "r.pt")
    assert load_npz(tmp_path / "none.npz", ["correct"])["correct"].shape == (2, 0)

    csv = tmp_path / "loo.csv"
    strata = {"top": [out["top"]], "random": [out["random"], tmp_path / "none.npz"]}
    st.write_loo(
        {"plan": plan, "full": tmp_path / "full.npz", "strata": strata, "index": index, "canaries": canaries}
        | ref,
        csv,
        "digits",
        "mlp",
    )
    df = pd.read_csv(csv)
    assert df["chosen"].tolist() == ["top"] * 2 + ["random"] * 3
    assert (df["n_full"] == 2).all() and (df["n_loo"] == 2).all()
    assert df["fz_loo"].between(-1, 1).all()
    # skipped: a header only
    st.write_plan(index, {"max_train_points": 10}, plan)
    st.write_loo({"plan": plan, "index": index, "canaries": canaries, "strata": {}}, csv, "d", "a")
    assert pd.read_csv(csv).empty


# ---- the workflow (tests/configs/tiny.yaml: 4 seeds, 4 top, 8 random points) ----------------------------
@pytest.mark.workflow
def test_workflow_writes_loo_csv_and_more_random_points_only_add_jobs(study):
    from workflow_helpers import planned_jobs, tiny_config, write_config

    df = pd.read_csv(study / "results/digits/mlp/loo.csv")
    assert df["chosen"].value_counts().to_dict() == {"top": 4, "top_b": 4, "random": 8}
    assert (df["n_full"] == 4).all() and (df["canary"] == 0).all()
    bias = pd.read_csv(study / "results/digits/mlp/sampling_bias.csv")
    loo_rows = bias[bias["against"] == "loo"]
    assert set(loo_rows["points"]) == {"top", "top_a", "top_b", "random"}
    assert "rate0.95" in set(loo_rows["ensemble"])

    cfg = copy.deepcopy(tiny_config())
    cfg["loo"]["random"] = 8 + POINTS_PER_JOB
    write_config(study, cfg)
    try:
        jobs = planned_jobs(study, "all")
    finally:
        write_config(study, tiny_config())
    trained = [(r, w) for r, w in jobs if r.startswith("members") or r.startswith("loo_")]
    assert trained == [
        ("loo_removed", {"dataset": "digits", "arch": "mlp", "stratum": "random", "group": "1"})
    ]
