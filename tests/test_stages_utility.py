"""memgen.utility.jobs on tiny files written here: removal sets, utility tables, Tables 1 and 3, and the
utility figures (memgen.figures.jobs).

Expected values are worked out by hand in the comments. The test labels are digits' (spec {}: 360 test
points), so utility-run outputs are built to be wrong on chosen test points.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from utility_helpers import write_utility_files

from memgen.data.loaders import load_dataset
from memgen.ensemble.outputs import compact, save_outputs
from memgen.errors import MemgenError
from memgen.figures.jobs import write_fig_leakage, write_fig_removed, write_fig_seeds, write_fig_utility
from memgen.utility.jobs import (
    points_path,
    read_points,
    read_table1,
    read_table3,
    read_table3_classes,
    read_utility,
    save_csv,
    utility_path_parts,
    write_removal,
    write_table1,
    write_table3,
    write_table3_classes,
    write_utility,
)
from memgen.utility.removal import load_removal

N_TEST = 360  # digits, test_fraction 0.2


@pytest.fixture(scope="module")
def test_labels():
    return load_dataset("digits", {}).tests["original"][1]


def _scores(path, fz, canary, n_out):
    n = len(fz)
    df = pd.DataFrame(
        {
            "index": range(n),
            "label": 0,
            "true_label": 0,
            "canary": canary,
            "n_in": 5,
            "n_out": n_out,
            "acc_in": 1.0,
            "acc_out": 0.0,
            "fz": fz,
            "frac": fz,
        }
    )
    df.to_csv(path, index=False)
    return df


def _thresholds(path, fixed_tau, null_tau, min_out=1):
    rules = {
        r: {d: {"tau": t} for d in ("fz", "frac")} for r, t in (("fixed", fixed_tau), ("null", null_tau))
    }
    path.write_text(json.dumps({"min_out": min_out, "rules": rules}))


REMOVAL = {"ensemble": "rate0.7", "definition": "fz", "rule": "fixed", "min_out": 1, "seed": 7}


def test_write_removal_uses_the_rules_tau(tmp_path):
    # points 1, 2, 3 are natural with fz >= 0.25; 4 is unscored (n_out 0); 5 is a canary
    _scores(tmp_path / "s.csv", [0.1, 0.5, 0.3, 0.25, 0.9, 0.9], [0, 0, 0, 0, 0, 1], [3, 3, 3, 3, 0, 3])
    _thresholds(tmp_path / "t.json", fixed_tau=0.25, null_tau=0.4)
    extra = write_removal(tmp_path / "s.csv", tmp_path / "t.json", tmp_path / "fixed.npz", REMOVAL)
    sets = load_removal(tmp_path / "fixed.npz")
    assert sets["memorized"].tolist() == [1, 2, 3]
    assert len(sets["random"]) == 3 and set(sets["random"]) <= {0, 1, 2, 3, 4}  # natural points only
    assert sets["tau"] == 0.25 and sets["n_natural"] == 5 and extra == {"seeds": {"random": 7}}

    write_removal(tmp_path / "s.csv", tmp_path / "t.json", tmp_path / "null.npz", REMOVAL | {"rule": "null"})
    assert load_removal(tmp_path / "null.npz")["memorized"].tolist() == [1]  # only 0.5 >= 0.4


def test_write_removal_undefined_tau_gives_an_empty_set_with_reason(tmp_path):
    _scores(tmp_path / "s.csv", [0.1, 0.5], [0, 0], [3, 3])
    _thresholds(tmp_path / "t.json", fixed_tau=0.25, null_tau=None)
    write_removal(tmp_path / "s.csv", tmp_path / "t.json", tmp_path / "r.npz", REMOVAL | {"rule": "null"})
    sets = load_removal(tmp_path / "r.npz")
    assert len(sets["memorized"]) == 0 and len(sets["random"]) == 0
    assert "undefined" in sets["reason"]


def test_write_removal_rejects_unknown_rule_and_other_min_out(tmp_path):
    _scores(tmp_path / "s.csv", [0.1, 0.5], [0, 0], [3, 3])
    _thresholds(tmp_path / "t.json", fixed_tau=0.25, null_tau=0.4, min_out=10)
    with pytest.raises(MemgenError, match="min_out = 10"):
        write_removal(tmp_path / "s.csv", tmp_path / "t.json", tmp_path / "r.npz", REMOVAL)
    with pytest.raises(MemgenError, match="no τ for rule 'lower'"):
        write_removal(
            tmp_path / "s.csv", tmp_path / "t.json", tmp_path / "r.npz", REMOVAL | {"rule": "lower"}
        )
    assert not (tmp_path / "r.npz").exists()


def _removal(path, memorized, random=None, n_train=1100):
    np.savez(
        path,
        memorized=np.array(memorized, dtype=np.int64),
        random=np.array(memorized if random is None else random, dtype=np.int64),
        n_natural=np.int64(n_train - 100),
        n_train=np.int64(n_train),
        reason=np.str_("" if memorized else "no natural point reaches τ = 1"),
    )


def _run(root, condition, seed, wrong, labels):
    """Outputs of one utility run that is right on every test point except those in `wrong`."""
    pred = labels.copy()
    pred[wrong] = (labels[wrong] + 1) % 10
    path = root / condition / "0" / str(seed) / "outputs.npz"
    save_outputs(path, {"test_original": compact(np.eye(10, dtype=np.float16)[pred], labels)}, seed_id=seed)
    return path


def _runs(root, labels):
    # memorized: seed 0 wrong on 0..8 (351/360 = 97.5 %), seed 1 on 0..17 (342/360 = 95 %)
    # random: both seeds wrong on 0..35 (324/360 = 90 %); class-matched: both wrong on 0..17 (95 %)
    return [
        _run(root, "memorized", 0, np.arange(9), labels),
        _run(root, "memorized", 1, np.arange(18), labels),
        _run(root, "random", 0, np.arange(36), labels),
        _run(root, "random", 1, np.arange(36), labels),
        _run(root, "random_class", 0, np.arange(18), labels),
        _run(root, "random_class", 1, np.arange(18), labels),
    ]


def _dups(path, test_ids):
    pd.DataFrame({"TestID": test_ids, "TrainID": 0, "Distance": 0.1, "Judgment": 1}).to_csv(path, index=False)


def test_write_utility_original_and_dedup(tmp_path, test_labels):
    _removal(tmp_path / "r.npz", [4, 5, 6])
    _dups(tmp_path / "d.csv", list(range(9)))  # test points 0..8 duplicate training points
    runs = _runs(tmp_path / "runs", test_labels)

    out = tmp_path / "original.csv"
    write_utility(
        tmp_path / "r.npz",
        tmp_path / "d.csv",
        runs[::-1],
        out,
        "digits",
        {},
        {"test_set": "original", "seeds": 2},
    )
    df = pd.read_csv(out)
    assert df.columns.tolist() == [
        "seed", "acc_memorized", "acc_random", "diff_pp", "acc_random_class", "diff_class_pp", "test_set",
        "n_removed", "n_test", "note"
    ]  # fmt: skip
    assert df["seed"].tolist() == [0, 1]
    assert df["acc_memorized"].tolist() == pytest.approx([97.5, 95.0])
    assert df["acc_random"].tolist() == pytest.approx([90.0, 90.0])
    assert df["diff_pp"].tolist() == pytest.approx([7.5, 5.0])
    assert df["acc_random_class"].tolist() == pytest.approx([95.0, 95.0])
    assert df["diff_class_pp"].tolist() == pytest.approx([2.5, 0.0])
    assert set(df["n_removed"]) == {3} and set(df["n_test"]) == {N_TEST}
    # beside it, each run's per-test-point outcome: what the test-aware p resamples
    pts = read_points(points_path(out))
    assert pts["correct"]["memorized"].shape == (2, N_TEST) and pts["keep"].all()
    assert pts["correct"]["memorized"][1].tolist() == [False] * 18 + [True] * (N_TEST - 18)
    assert pts["correct"]["random"].sum(axis=1).tolist() == [324, 324]
    assert (pts["labels"] == test_labels).all() and pts["points"] == "original" and pts["removal"] == "r"

    # dedup: 351 test points; memorized seed 0 is then always right, seed 1 wrong on 9..17
    out = tmp_path / "dedup.csv"
    write_utility(
        tmp_path / "r.npz", tmp_path / "d.csv", runs, out, "digits", {}, {"test_set": "dedup", "seeds": 2}
    )
    u = read_utility(out)["utility"]
    assert u["acc_memorized"].tolist() == pytest.approx([100.0, 100 * 342 / 351])
    assert u["acc_random"].tolist() == pytest.approx([100 * 324 / 351] * 2)
    assert set(u["n_test"]) == {351} and set(u["test_set"]) == {"dedup"}
    assert u["note"][0].startswith("9 of 360 test points dropped")
    # the outcomes cover the whole original test set; keep marks the 351 the accuracies use
    pts = read_points(points_path(out))
    assert pts["correct"]["memorized"].shape == (2, N_TEST) and pts["keep"].tolist() == [False] * 9 + [
        True
    ] * (N_TEST - 9)
    assert pts["points"] == "original" and pts["test_set"] == "dedup"


def test_write_utility_needs_every_seed_of_both_conditions(tmp_path, test_labels):
    _removal(tmp_path / "r.npz", [4, 5, 6])
    _dups(tmp_path / "d.csv", [])
    runs = _runs(tmp_path / "runs", test_labels)
    variant = {"test_set": "original", "seeds": 2}
    with pytest.raises(MemgenError, match=r"random utility runs have seed ids \[0\], expected 0..1"):
        write_utility(
            tmp_path / "r.npz", tmp_path / "d.csv", runs[:3], tmp_path / "u.csv", "digits", {}, variant
        )
    with pytest.raises(MemgenError, match=r"random_class utility runs have seed ids \[0\]"):
        write_utility(
            tmp_path / "r.npz", tmp_path / "d.csv", runs[:5], tmp_path / "u.csv", "digits", {}, variant
        )
    with pytest.raises(MemgenError, match="seed id 0"):
        write_utility(
            tmp_path / "r.npz", tmp_path / "d.csv", runs + runs[:1], tmp_path / "u.csv", "digits", {}, variant
        )
    with pytest.raises(MemgenError, match="no test set 'cifar10.1'"):
        write_utility(
            tmp_path / "r.npz", tmp_path / "d.csv", runs, tmp_path / "u.csv", "digits", {},
            {"test_set": "cifar10.1", "seeds": 2},
        )  # fmt: skip
    np.savez(runs[0], test_original=np.zeros((N_TEST, 10), np.float16), seed_id=np.int64(0))  # old logits
    with pytest.raises(MemgenError, match=r"memorized/0/0/outputs.npz holds full logits in the old layout"):
        write_utility(tmp_path / "r.npz", tmp_path / "d.csv", runs, tmp_path / "u.csv", "digits", {}, variant)
    assert not (tmp_path / "u.csv").exists()


def test_a_removal_set_without_class_matched_runs_writes_tables_without_them(tmp_path, test_labels):
    """Only Table 3's removal set trains the class-matched control (memgen.variants.run_conditions):
    another set's utility table leaves its columns empty and its outcomes hold no such array, and Tables 1
    and 3, Table 3 per class and Fig. 5 read it."""
    _removal(tmp_path / "r.npz", [4, 5, 6])
    runs = _runs(tmp_path / "runs", test_labels)
    paper = {"test_set": "original", "seeds": 2, "conditions": ["memorized", "random"]}
    out = tmp_path / "results/digits/mlp/utility/baseline.csv"
    write_utility(tmp_path / "r.npz", None, runs[:4], out, "digits", {}, paper)
    u = read_utility(out)["utility"]
    assert u["diff_pp"].tolist() == pytest.approx([7.5, 5.0])  # 97.5 − 90, 95 − 90
    assert u[["acc_random_class", "diff_class_pp"]].isna().all().all()
    assert "correct_random_class" not in np.load(points_path(out)).files
    assert sorted(read_points(points_path(out))["correct"]) == ["memorized", "random"]
    with pytest.raises(MemgenError, match="2 random_class utility runs were passed, but this removal set"):
        write_utility(tmp_path / "r.npz", None, runs, tmp_path / "u.csv", "digits", {}, paper)
    none = paper | {"conditions": []}
    with pytest.raises(MemgenError, match="memorized and random are needed"):
        write_utility(tmp_path / "r.npz", None, runs, tmp_path / "u.csv", "digits", {}, none)
    write_table1([out], tmp_path / "t1.csv")
    assert read_table1(tmp_path / "t1.csv")["score_pp"].tolist() == pytest.approx([6.25])
    write_table3([out], tmp_path / "t3.csv")
    t3 = read_table3(tmp_path / "t3.csv")
    assert t3["control"].tolist() == ["random"] and t3["diff_pp"].tolist() == pytest.approx([6.25])
    write_fig_utility(tmp_path / "t3.csv", [tmp_path / "f5.png", tmp_path / "f5.pdf"])
    labels = np.zeros(1100, dtype=np.int64)
    pd.DataFrame({"true_label": labels}).to_csv(tmp_path / "s.csv", index=False)
    index = {"n": np.int64(1100), "labels": labels, "test_labels": test_labels, "num_classes": np.int64(10)}
    np.savez(tmp_path / "index.npz", classes=np.array([f"c{i}" for i in range(10)]), **index)
    files = (points_path(out), tmp_path / "r.npz", tmp_path / "s.csv", tmp_path / "index.npz")
    write_table3_classes(out, *files, tmp_path / "c.csv")
    t = read_table3_classes(tmp_path / "c.csv")
    assert t["acc_class_matched_removed"].isna().all() and t["p_class_matched"].isna().all()
    assert t["acc_random_removed"].notna().all() and t["p_random"].notna().all()


def test_empty_memorized_set_writes_one_row_with_the_reason(tmp_path):
    _removal(tmp_path / "r.npz", [])
    _dups(tmp_path / "d.csv", [])
    out = tmp_path / "u.csv"
    write_utility(
        tmp_path / "r.npz", tmp_path / "d.csv", [], out, "digits", {}, {"test_set": "dedup", "seeds": 2}
    )
    df = pd.read_csv(out)
    assert len(df) == 1 and df["n_removed"].tolist() == [0] and df["test_set"].tolist() == ["dedup"]
    assert df[["seed", "acc_memorized", "acc_random", "diff_pp"]].isna().all().all()
    assert df["note"][0] == "no natural point reaches τ = 1"
    assert read_utility(out) == {
        "utility": None,
        "reason": "no natural point reaches τ = 1",
        "test_set": "dedup",
    }
    with pytest.raises(MemgenError, match="removes no points"):
        write_utility(
            tmp_path / "r.npz",
            tmp_path / "d.csv",
            ["x/memorized/0/0/outputs.npz"],
            out,
            "digits",
            {},
            {"test_set": "dedup", "seeds": 2},
        )


def _utility_csv(root, dataset, arch, variant, diffs, n_removed=5, **kw):
    """A utility table whose per-seed differences are `diffs` (pp of 100 test points; random removal at
    80 %), with its per-test-point outcomes beside it (tests/utility_helpers.py)."""
    path = root / "results" / dataset / arch / "utility" / f"{variant}.csv"
    return write_utility_files(path, diffs, n_removed, **kw)


def test_table1_orders_variants_baseline_first_and_labels_them(tmp_path):
    paths = [
        _utility_csv(tmp_path, "digits", "mlp", "principled", None),
        _utility_csv(tmp_path, "digits", "mlp", "frac", [2, 5], removal="f"),
        _utility_csv(tmp_path, "digits", "mlp", "baseline", [1, 3]),
    ]
    write_table1(paths, tmp_path / "table1.csv")
    t = read_table1(tmp_path / "table1.csv")
    assert t["variant"].tolist() == ["baseline", "frac", "principled"]
    assert t["setting"].tolist() == [
        "Baseline (Feldman and Zhang setup)", "+ Fractional difference", "+ Principled (null) threshold"
    ]  # fmt: skip
    assert t.columns.tolist()[:5] == ["dataset", "arch", "replicate", "variant", "setting"]
    assert t["replicate"].astype(str).tolist() == ["1"] * 3 and "combined" not in set(
        t["replicate"].astype(str)
    )
    base, frac, null = t.to_dict("records")
    # baseline differences 1, 3: Score 2, std √2, paired t = 2 with 1 df: p = 1 − 2·atan(2)/π (seeds only)
    assert base["score_pp"] == pytest.approx(2.0) and base["std_pp"] == pytest.approx(math.sqrt(2))
    assert base["p_seeds"] == pytest.approx(1 - 2 * math.atan(2) / math.pi)
    assert base["ci_lo_pp"] < 2.0 < base["ci_hi_pp"] and 0 < base["p_value"] <= 1 and base["n_test"] == 100
    # Δ paired by seed: per-seed Δ 2 − 1, 5 − 3 = 1, 2; t = 1.5 / (√0.5 / √2) = 3 with 1 df
    assert frac["delta_pp"] == pytest.approx(1.5)
    assert frac["delta_p_seeds"] == pytest.approx(1 - 2 * math.atan(3) / math.pi)
    assert frac["delta_ci_lo_pp"] < 1.5 < frac["delta_ci_hi_pp"] and not frac["evaluation_only"]
    assert null["n_removed"] == 0 and null["seeds"] == 0 and math.isnan(null["score_pp"])
    assert null["note"] == "nothing reaches τ"


def test_table1_needs_a_baseline_and_utility_paths(tmp_path):
    with pytest.raises(MemgenError, match="no baseline"):
        write_table1([_utility_csv(tmp_path, "digits", "mlp", "frac", [2.0, 4.0])], tmp_path / "t.csv")
    assert utility_path_parts("results/cifar10/resnet18/utility/all.csv") == ("cifar10", "resnet18", "all")
    with pytest.raises(MemgenError, match="not a utility table path"):
        utility_path_parts("results/cifar10/resnet18/utility/other.csv")


def test_table3_and_fig5(tmp_path):
    paths = [
        _utility_csv(tmp_path, "digits", "mlp", "all", [1, 3], n_removed=7, class_diffs=[0, 2]),
        _utility_csv(tmp_path, "digits", "cnn", "all", None),
    ]
    write_table3(paths, tmp_path / "table3.csv")
    t = read_table3(tmp_path / "table3.csv")
    assert t[["dataset", "arch", "variant", "control"]].values.tolist() == [
        ["digits", "mlp", "all", "random"],
        ["digits", "mlp", "all", "class_matched"],
        ["digits", "cnn", "all", "random"],
        ["digits", "cnn", "all", "class_matched"],
    ]
    mlp, mlp_class, cnn, _ = t.to_dict("records")
    assert mlp["acc_memorized_removed"] == pytest.approx(82.0)
    assert mlp["acc_control_removed"] == pytest.approx(80.0)
    assert mlp["diff_pp"] == pytest.approx(2.0) and mlp["n_removed"] == 7 and mlp["n_test"] == 100
    assert mlp["p_seeds"] == pytest.approx(1 - 2 * math.atan(2) / math.pi)  # 1, 3: t = 2, 1 df
    assert pd.notna(mlp["significant_0.05"]) and not mlp["significant_0.05"]
    # class-matched: memorized 82 % vs 81 % (differences 0, 2)
    assert mlp_class["acc_control_removed"] == pytest.approx(81.0) and mlp_class["diff_pp"] == pytest.approx(
        1.0
    )
    assert pd.isna(cnn["significant_0.05"]) and cnn["n_removed"] == 0 and cnn["note"] == "nothing reaches τ"

    out = [tmp_path / "fig5.png", tmp_path / "fig5.pdf"]
    write_fig_utility(tmp_path / "table3.csv", out)
    assert out[0].read_bytes()[:4] == b"\x89PNG" and out[1].read_bytes()[:4] == b"%PDF"


def test_table3_per_class(tmp_path, test_labels):
    """table3_classes.csv from real utility-run files: test points per class, points each condition removes
    of each class (from scores.csv's true labels), accuracies and memorized − each control."""
    _removal(tmp_path / "r.npz", [4, 5, 6])
    sets = dict(np.load(tmp_path / "r.npz"))
    # memorized: training points 4, 5, 6 of classes 1, 1, 2; uniform controls of classes 0,0,0 and 0,1,2
    labels = np.zeros(1100, dtype=np.int64)
    labels[[4, 5, 10]], labels[[6, 11]] = 1, 2
    sets["random_by_seed"] = np.array([[0, 1, 2], [3, 10, 11]])
    sets["random_class_by_seed"] = np.array([[5, 10, 11], [4, 10, 6]])
    np.savez(tmp_path / "r.npz", **sets)
    pd.DataFrame({"true_label": labels}).to_csv(tmp_path / "s.csv", index=False)
    index = {"n": np.int64(1100), "labels": labels, "test_labels": test_labels, "num_classes": np.int64(10)}
    np.savez(tmp_path / "index.npz", classes=np.array([f"c{i}" for i in range(10)]), **index)
    out = tmp_path / "results/digits/mlp/utility/all.csv"
    write_utility(
        tmp_path / "r.npz", None, _runs(tmp_path / "runs", test_labels), out, "digits", {},
        {"test_set": "original", "seeds": 2},
    )  # fmt: skip
    write_table3_classes(
        out,
        points_path(out),
        tmp_path / "r.npz",
        tmp_path / "s.csv",
        tmp_path / "index.npz",
        tmp_path / "c.csv",
    )
    t = read_table3_classes(tmp_path / "c.csv")
    assert t.columns.tolist()[:5] == ["dataset", "arch", "variant", "test_set", "class"]
    assert t["class"].tolist() == list(range(10)) and t["class_name"].tolist()[:2] == ["c0", "c1"]
    assert t["n_test"].tolist() == np.bincount(test_labels).tolist()
    one = t.set_index("class").loc[1]
    assert (
        one["removed_memorized"] == 2 and one["removed_random"] == 0.5 and one["removed_class_matched"] == 2
    )
    assert (
        t["removed_memorized"].sum() == 3
        and t["removed_class_matched"].tolist() == t["removed_memorized"].tolist()
    )
    # class of test point 0..35 (wrong under random) by hand: accuracies per class from the runs
    c = int(test_labels[0])
    cols = test_labels == c
    wrong_random = np.isin(np.flatnonzero(cols), np.arange(36)).sum()
    row = t.set_index("class").loc[c]
    assert row["acc_random_removed"] == pytest.approx(100 * (1 - wrong_random / cols.sum()))
    assert row["diff_random_pp"] == pytest.approx(row["acc_memorized_removed"] - row["acc_random_removed"])
    assert row["ci_lo_random_pp"] <= row["diff_random_pp"] <= row["ci_hi_random_pp"]


def test_fig11_curve_and_message_without_runs(tmp_path):
    out = [tmp_path / "f.png", tmp_path / "f.pdf"]
    write_fig_seeds(_utility_csv(tmp_path, "digits", "mlp", "all", [1.0, 3.0, 2.0]), out)
    assert out[0].read_bytes()[:4] == b"\x89PNG" and out[1].read_bytes()[:4] == b"%PDF"
    for p in out:
        p.unlink()
    write_fig_seeds(_utility_csv(tmp_path, "digits", "cnn", "all", None), out)
    assert all(p.stat().st_size > 0 for p in out)


def test_fig4_and_fig10(tmp_path):
    n = len(load_dataset("digits", {}).y_train)
    fz = np.linspace(0, 1, n)
    _scores(tmp_path / "s.csv", fz, (np.arange(n) % 20 == 0).astype(int), 12)
    _dups(tmp_path / "d.csv", [3, 5, 8])
    out = [tmp_path / "f4.png", tmp_path / "f4.pdf"]
    write_fig_leakage(tmp_path / "s.csv", tmp_path / "d.csv", "digits", {}, out)
    assert out[0].read_bytes()[:4] == b"\x89PNG" and out[1].read_bytes()[:4] == b"%PDF"

    removal = tmp_path / "rate0.95-frac-null.npz"
    _removal(removal, [n - 2, n - 1], [1, 2], n_train=n)
    out = [tmp_path / "f10.png", tmp_path / "f10.pdf"]
    write_fig_removed(tmp_path / "s.csv", removal, "fz", out)
    assert out[0].read_bytes()[:4] == b"\x89PNG" and out[1].read_bytes()[:4] == b"%PDF"
    _removal(removal, [1], n_train=n + 1)
    with pytest.raises(MemgenError, match=f"drawn from {n + 1} training points"):
        write_fig_removed(tmp_path / "s.csv", removal, "fz", out)


def test_save_csv_is_atomic(tmp_path):
    save_csv(tmp_path / "a" / "t.csv", pd.DataFrame({"x": [1, 2]}))
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["t.csv"]
    assert pd.read_csv(tmp_path / "a" / "t.csv")["x"].tolist() == [1, 2]


def test_the_summary_shows_both_controls_the_test_aware_p_and_the_classes(tmp_path, test_labels):
    from memgen.report import summary_rst

    paths = [
        _utility_csv(tmp_path, "digits", "mlp", "baseline", [1, 3]),
        _utility_csv(tmp_path, "digits", "mlp", "dedup", [1, 3], test_set="dedup", keep=np.arange(100) > 1),
        _utility_csv(tmp_path, "digits", "mlp", "all", [10, 12], class_diffs=[0, 1], removal="a"),
    ]
    write_table1(paths, tmp_path / "table1.csv")
    write_table3(paths[2:], tmp_path / "table3.csv")
    classes = tmp_path / "c.csv"
    pd.DataFrame(
        {"class": [0, 1], "class_name": ["shirt", "trouser"], "removed_memorized": [185, 19]}
        | {"removed_random": [100.0, 100.0], "diff_random_pp": [-4.8, 0.2], "ci_lo_random_pp": [-6.0, -0.5]}
        | {"ci_hi_random_pp": [-3.6, 0.9], "diff_class_matched_pp": [-0.3, 0.1]}
        | {"ci_lo_class_matched_pp": [-1.1, -0.6], "ci_hi_class_matched_pp": [0.5, 0.8]}
    ).to_csv(classes, index=False)
    th = tmp_path / "th.json"
    th.write_text(json.dumps({"ensemble": "rate0.95", "rules": {}}))
    text = summary_rst(
        tmp_path / "table1.csv",
        tmp_path / "table3.csv",
        {("digits", "mlp"): {"thresholds": th, "table3_classes": classes}},
    )
    assert "**class_matched**" in text and "p (seeds)" in text
    t3 = read_table3(tmp_path / "table3.csv")
    lo, hi = t3.iloc[0]["ci_lo_pp"], t3.iloc[0]["ci_hi_pp"]
    assert f"[{lo:+.2f}, {hi:+.2f}]" in text
    assert "\\+ De-duplicated test (evaluation-only)" in text
    assert "Against as many random points (the paper's control): 1 of 2 classes lose accuracy" in text
    assert (
        "Largest loss against the paper's control: class shirt (-4.80 pp [-6.00, -3.60]; 185 of its" in text
    )


def test_fig4_pairs_the_top_natural_points_with_their_closest_test_image():
    """memgen.utility.nearest by hand: 2x2 images; b ties between test 0 and 1 (cosine 1/√2 each): the
    first is kept; the canary and the point without a score are never shown."""
    from memgen.utility.nearest import leakage_pairs

    x_test = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 1]], dtype=np.uint8).reshape(3, 1, 2, 2)
    x_train = np.array([[0, 0, 2, 2], [1, 1, 0, 0], [3, 0, 0, 0], [0, 5, 0, 0]], dtype=np.uint8)
    scores = pd.DataFrame({"canary": [0, 0, 1, 0], "fz": [0.5, 0.9, 1.0, math.nan]})
    listed = pd.DataFrame({"TestID": [2], "TrainID": [0], "Distance": [0.0], "Judgment": [1]})
    pairs = leakage_pairs(scores, x_train.reshape(4, 1, 2, 2), x_test, listed, "fz", 3)
    assert pairs["TrainID"].tolist() == [1, 0] and pairs["TestID"].tolist() == [0, 2]
    assert pairs["Listed"].tolist() == [False, True] and pairs["Judgment"].tolist() == [1, 1]
    np.testing.assert_allclose(pairs["Distance"], [math.sqrt(2 - math.sqrt(2)), 0.0], atol=1e-7)
