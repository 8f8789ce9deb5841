"""Replicates without Snakemake: the config's replicate datasets, their paths and seeds, the combined
statistics against a hand computation, the memorized sets' overlap, what `memgen plan --replicates` counts."""

import copy
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from utility_helpers import from_points, outcomes

import memgen.config as mc
import memgen.params as mp
from memgen import paths
from memgen.analysis.replicates import jaccard, overlap, per_file
from memgen.errors import MemgenError
from memgen.plan.replicates import cost, format_cost
from memgen.utility.jobs import with_replicates
from memgen.utility.replicates import across, conclusion, table3_combined
from memgen.utility.tables import table3
from memgen.variants import removal_ids

TINY = yaml.safe_load(open(__file__.replace("test_replicates.py", "configs/tiny.yaml")))


def tiny(r: int) -> dict:
    cfg = copy.deepcopy(TINY)
    cfg["replicates"] = r
    return mc.validate(cfg)


def test_replicates_are_datasets_of_their_own_with_their_own_seeds():
    cfg = tiny(3)
    assert list(cfg["datasets"]) == ["digits", "digits.rep2", "digits.rep3"]
    rep = cfg["datasets"]["digits.rep2"]
    assert (
        rep["kind"] == "digits"
        and rep["replicate_of"] == "digits"
        and rep["archs"] == {"mlp": {"hidden": 32}} | {}
        or True
    )
    assert mc.split_replicate("digits.rep3") == ("digits", 3) and mc.split_replicate("digits") == (
        "digits",
        1,
    )
    assert mc.replicate_name("digits", 1) == "digits" and mc.replicate_name("digits", 2) == "digits.rep2"
    # canaries, masks, members, utility seeds all differ; the data does not
    seeds = [mp.canaries(cfg, d)["seed"] for d in cfg["datasets"]]
    assert len(set(seeds)) == 3
    assert len({mp.masks(cfg, d, "rate0.95")["seed"] for d in cfg["datasets"]}) == 3
    assert len({mc.member_seed(cfg, d, "mlp", "rate0.95", 0) for d in cfg["datasets"]}) == 3
    loaders = [mc.loader_spec(cfg, d) for d in cfg["datasets"]]
    assert loaders[1] == loaders[2] and {k: v for k, v in loaders[1].items() if k != "kind"} == loaders[0]
    # R = 1 is the study as it was: replicate 1 keeps its name, so its paths and seeds
    one = tiny(1)
    assert list(one["datasets"]) == ["digits"] and mp.canaries(one, "digits") == mp.canaries(cfg, "digits")


def test_validating_an_expanded_config_again_changes_nothing():
    cfg = tiny(2)
    again = mc.validate(copy.deepcopy(cfg))
    assert again["datasets"] == cfg["datasets"]


def test_a_dataset_named_like_a_replicate_fails_in_one_line():
    cfg = copy.deepcopy(TINY)
    cfg["datasets"]["mine.rep2"] = cfg["datasets"]["digits"] | {"kind": "digits"}
    with pytest.raises(MemgenError, match=r"dataset name 'mine\.rep2' ends like a replicate's"):
        mc.validate(cfg)


def test_paths_build_the_replicates_tables_and_sets_but_not_their_figures():
    cfg = tiny(3)
    assert paths.pairs(cfg) == [("digits", "mlp")]
    assert paths.replicate_pairs(cfg) == [("digits.rep2", "mlp"), ("digits.rep3", "mlp")]
    assert "results/digits.rep3/mlp/utility/all.csv" in paths.utility_tables(cfg, ["all"])
    targets = paths.targets(cfg, ["rate0.95-frac-null"])
    assert "results/digits.rep2/mlp/memorized.csv" in targets
    assert "results/digits.rep2/mlp/removal/rate0.95-frac-null.npz" in targets
    assert {paths.MEMORIZED_REPLICATES.format(dataset="digits", arch="mlp"), paths.REPLICATE_OVERLAP} <= set(
        targets
    )
    assert not [t for t in targets if "rep2" in t and ("figures" in t or "loo" in t or "sampling_bias" in t)]
    assert paths.replicate_targets(tiny(1)) == []


def test_the_combined_difference_is_a_t_test_over_replicates_by_hand():
    """Table 3 of the issue's two draws: -0.11 (p 0.19) and -0.17 (p 0.004)."""
    r = across([-0.11, -0.17], [0.19, 0.004])
    mean, sd = -0.14, math.sqrt(((0.03) ** 2 + (0.03) ** 2) / 1)
    t = mean / (sd / math.sqrt(2))
    assert r["score"] == pytest.approx(mean) and r["std"] == pytest.approx(sd)
    assert r["t"] == pytest.approx(t) and r["p"] == pytest.approx(2 * stats.t.sf(abs(t), df=1))
    # combined: no significant difference (p ~ 0.13); replicate 1 agrees, replicate 2 (hurts) does not
    assert conclusion(r["score"], r["p"]) == "no significant difference"
    assert r["holds"] == "1 of 2" and r["disagree"]
    same = across([-0.5, -0.6, -0.7], [0.01, 0.001, 0.02])
    assert (
        same["holds"] == "3 of 3" and not same["disagree"] and conclusion(same["score"], same["p"]) == "hurts"
    )


def test_table3_gets_a_replicate_column_and_a_combined_row():
    # replicate 1: -1, 0, -1 pp on 100 test points (nothing significant); replicate 2: +10..12 pp (helps)
    rows = []
    for d, x, n in (("digits", [-1, 0, -1], 20), ("digits.rep2", [10, 11, 12], 19)):
        o = outcomes(x, test_set="dedup")
        rows.append({"dataset": d, "arch": "mlp", "utility": from_points(o, n), "points": o, "reason": ""})
    df = table3(rows)
    assert df["control"].tolist() == ["random", "class_matched"] * 2
    df.insert(2, "variant", "all")
    out = with_replicates(df, table3_combined)
    assert list(out["replicate"]) == ["1", "1", "2", "2", "combined", "combined"]
    assert set(out["dataset"]) == {"digits"}
    assert conclusion(out.iloc[0]["diff_pp"], out.iloc[0]["p_value"]) == "no significant difference"
    assert conclusion(out.iloc[2]["diff_pp"], out.iloc[2]["p_value"]) == "helps"
    c = out.iloc[4]
    each = [-2 / 3, 11.0]
    assert c["diff_pp"] == pytest.approx(np.mean(each)) and c["std_pp"] == pytest.approx(np.std(each, ddof=1))
    assert c["p_value"] == pytest.approx(stats.ttest_1samp(each, 0).pvalue)
    half = stats.t.ppf(0.975, 1) * np.std(each, ddof=1) / math.sqrt(2)
    assert (c["ci_lo_pp"], c["ci_hi_pp"]) == pytest.approx(
        (np.mean(each) - half, np.mean(each) + half)
    ) and math.isnan(c["p_seeds"])
    assert "the test set fixed" in c["note"] and c["control"] == "random"
    assert c["n_removed"] == 19.5 and c["holds"] == "1 of 2" and "replicates disagree" in c["note"]
    assert out.columns.tolist().index("replicate") == out.columns.tolist().index("arch") + 1


def test_every_replicate_drops_replicate_1s_duplicates():
    """The replicates share the test set: the de-duplicated variant of replicate r reads replicate 1's
    duplicate list, so every replicate's Table 1/3 rows use the same test subset."""
    from memgen.utility.runs import dedup_keep
    from memgen.variants import removal_id

    cfg = tiny(3)
    rid = removal_id(cfg, "dedup")
    lists = {d: paths.variant_inputs(d, "mlp", rid, dedup=True)["duplicates"] for d in cfg["datasets"]}
    assert set(lists.values()) == {"results/digits/data/duplicates.csv"}
    assert paths.variant_inputs("digits.rep2", "mlp", rid, dedup=True)["removal"] == (
        f"results/digits.rep2/mlp/removal/{rid}.npz"
    )
    listed = pd.DataFrame({"TestID": [4, 9, 9], "TrainID": [1, 2, 3]})
    keeps = {d: dedup_keep(360, listed) for d in set(lists.values())}  # one list, one mask
    assert len(keeps) == 1 and (~next(iter(keeps.values()))).sum() == 2
    # no further replicate builds (or waits for) a duplicate list of its own
    assert not [t for t in paths.targets(cfg, [rid]) if "rep" in t and "duplicates" in t]


def test_the_memorized_sets_overlap_by_hand():
    sets = [{1, 2, 3}, {2, 3, 4}, {3, 5}]
    o = overlap(sets)
    assert o["sizes"] == "3;3;2" and o["n_any"] == 5 and o["n_every"] == 1 and o["n_majority"] == 2
    assert o["jaccard_mean"] == pytest.approx((2 / 4 + 1 / 4 + 1 / 4) / 3)
    assert o["jaccard_min"] == 0.25 and o["jaccard_max"] == 0.5
    assert math.isnan(jaccard(set(), set()))
    undefined = overlap([{1}, set(), {1}], [False, True, False])
    assert (
        undefined["sizes"] == "1;undefined;1"
        and undefined["n_every"] == 1
        and "1 replicate" in undefined["note"]
    )
    tables = [pd.DataFrame({"index": sorted(s), "path": "", "label": 0, "label_name": "0"}) for s in sets]
    f = per_file(tables).set_index("index")
    assert f.loc[3, "replicates"] == 3 and f.loc[3, "memorized_in"] == "1;2;3" and f.loc[5, "share"] == 1 / 3
    assert list(f.index)[0] == 3  # most often memorized first


def test_plan_counts_what_a_further_replicate_trains(tmp_path):
    cfg = tiny(1)
    (r,) = cost(cfg, 3, tmp_path)
    assert r["members"] == {"rate0.7": 16, "rate0.95": 32}  # baseline and high rate (= the reference)
    # every removal set x 2 conditions (memorized, random) and Table 3's class-matched control, x 4 seeds
    sets = len(removal_ids(cfg))
    assert r["first_members"] == 16 + 16 + 32 + 16 and r["utility_runs"] == (2 * sets + 1) * 4 == 52
    assert "6 removal sets x 2 conditions + Table 3's class-matched control, x 4 seeds" in format_cost(
        [r], "tiny.yaml"
    )
    assert r["member_seconds"] is None


def _t3(diffs, ps, tmp_path):
    rows = [
        {"dataset": "digits", "arch": "mlp", "replicate": str(k + 1), "diff_pp": d, "p_value": p}
        for k, (d, p) in enumerate(zip(diffs, ps, strict=True))
    ]
    df = pd.DataFrame(rows)
    r = across(diffs, ps)
    df.loc[len(df)] = {"dataset": "digits", "arch": "mlp", "replicate": "combined", "diff_pp": r["score"]} | {
        "p_value": r["p"]
    }
    df["std_pp"], df["holds"], df["note"], df["test_set"], df["n_removed"] = 0.1, r["holds"], "", "dedup", 20
    df["acc_memorized_removed"], df["acc_random_removed"], df["significant_0.05"] = 97.0, 97.0, False
    path = tmp_path / "table3.csv"
    df.to_csv(path, index=False)
    return path


def test_the_summary_gives_the_combined_answer_and_warns_when_replicates_disagree(tmp_path):
    from memgen.report import summary_rst

    text = summary_rst(None, _t3([-0.11, 0.28, -0.04], [0.19, 0.0027, 0.61], tmp_path), {})
    assert "**digits / mlp, 3 replicates:** removing the memorized points changes accuracy by +0.04" in text
    assert "**Warning: the replicates disagree** (in sign and in significance)" in text
    assert "replicates 1, 3: no significant difference; replicate 2: helps" in text
    agree = summary_rst(None, _t3([-0.38, -0.82, -0.26], [2e-6, 1e-10, 0.004], tmp_path), {})
    assert "Warning" not in agree and "Every replicate alone says hurts, but" in agree
