"""memorized.csv (memgen.analysis.memorized, memgen.analysis.memorized_jobs) without Snakemake: which points,
their files,
and what held-out members predict instead."""

import json

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.memorized import NONE, held_out_predictions, memorized_table, read_memorized
from memgen.analysis.memorized_jobs import write_memorized
from memgen.data.index import point_paths
from memgen.ensemble.outputs import compact, save_outputs
from memgen.errors import MemgenError
from memgen.io import save_csv, save_npz
from memgen.scores.compute import score_table
from memgen.scores.jobs import write_scores

PARAMS = {"ensemble": "rate0.95", "definition": "frac", "rule": "null", "min_out": 2}


def test_held_out_members_vote_for_the_most_common_other_class():
    # 6 members, 3 points; point 0 held out by members 0-3, point 1 by 0-1, point 2 by none
    mask = np.array([[0, 0, 1], [0, 0, 1], [0, 1, 1], [0, 1, 1], [1, 1, 1], [1, 1, 1]], dtype=bool)
    pred = np.array([[2, 1, 0], [2, 1, 0], [1, 4, 0], [0, 4, 0], [0, 1, 0], [0, 1, 0]])
    h = held_out_predictions(mask, pred, np.array([0, 1, 0]), num_classes=5)
    assert h["n_out"].tolist() == [4, 2, 0]
    # point 0: held out by members 0-3 predicting 2, 2, 1, 0 -> class 2 by half, the label by a quarter
    assert h["instead"][0] == 2 and h["instead_share"][0] == 0.5 and h["label_share"][0] == 0.25
    # point 1: both held-out members predict the label: nothing instead
    assert h["instead"][1] == NONE and h["instead_share"][1] == 0.0 and h["label_share"][1] == 1.0
    assert h["instead"][2] == NONE and np.isnan(h["instead_share"][2]) and np.isnan(h["label_share"][2])


def test_a_tie_goes_to_the_lower_class_and_shares_match_acc_out():
    rng = np.random.default_rng(0)
    mask = rng.random((40, 300)) < 0.5
    pred = rng.integers(0, 4, size=(40, 300))
    label = rng.integers(0, 4, size=300)
    h = held_out_predictions(mask, pred, label, 4)
    correct = pred == label
    acc_out = (~mask & correct).sum(0) / (~mask).sum(0)
    np.testing.assert_allclose(h["label_share"], acc_out)
    for j in range(0, 300, 37):  # against a plain count, ties to the lowest class
        counts = np.bincount(pred[~mask[:, j], j], minlength=4)
        counts[label[j]] = -1
        assert (
            h["instead"][j] == counts.argmax() and h["instead_share"][j] == counts.max() / (~mask[:, j]).sum()
        )


def test_point_paths_name_files_of_folders_and_nothing_else():
    folder = {"n": 2, "test_labels": np.zeros(1), "train_path": np.array(["train/a/x.png", "train/b/y.png"])}
    assert point_paths(folder).tolist() == ["train/a/x.png", "train/b/y.png"]
    assert point_paths({"n": 3, "test_labels": np.zeros(2)}).tolist() == ["", "", ""]
    assert point_paths({"n": 3, "test_labels": np.zeros(2)}, "test").tolist() == ["", ""]
    with pytest.raises(MemgenError, match="lists 2 train files for 5 points"):
        point_paths({**folder, "n": 5})


def test_table_is_sorted_by_score_and_names_classes():
    scores = pd.DataFrame(
        {
            "label": [0, 1, 2, 1],
            "fz": [0.9, 0.5, 0.8, 0.1],
            "frac": [0.9, 1.0, 0.9, 0.1],
            "acc_in": [1.0, 0.5, 0.9, 0.2],
            "acc_out": [0.05, 0.0, 0.05, 0.1],
            "n_in": [10, 10, 10, 10],
            "n_out": [20, 20, 20, 20],
        }
    )
    held = {"instead": np.array([NONE, 2, 1]), "instead_share": np.array([0.0, 0.95, 0.3])}
    t = memorized_table(
        scores, np.array([1, 1, 1, 0], bool), "frac", ["cat", "dog", "fox"], ["a", "b", "c", "d"], held
    )
    assert t["index"].tolist() == [1, 0, 2]  # score 1.0 first, then the 0.9 tie by index
    assert t["path"].tolist() == ["b", "a", "c"] and t["label_name"].tolist() == ["dog", "cat", "fox"]
    assert t["predicted_instead_name"].tolist() == ["fox", "", "dog"]
    assert t["score"].tolist() == [1.0, 0.9, 0.9]


def _ensemble(tmp_path, classes=("zero", "one", "two"), n=12, k=8, folder=True):
    """An ensemble of k members on n points: point 0 is fit only when trained on (held-out members say 2),
    point 1 likewise but held-out members scatter; the others are always right. Point 11 is a canary."""
    rng = np.random.default_rng(3)
    label = np.arange(n) % len(classes)
    canary = np.zeros(n, bool)
    canary[11] = True
    mask = np.zeros((k, n), bool)
    for i in range(n):  # every point in exactly half the members
        mask[rng.permutation(k)[: k // 2], i] = True
    paths = []
    for m in range(k):
        pred = label.copy()
        pred[0] = label[0] if mask[m, 0] else 2
        pred[1] = label[1] if mask[m, 1] else (m % 3 if m % 3 != label[1] else 0)
        pred[11] = label[11] if mask[m, 11] else 0
        p = tmp_path / f"members/{m}/outputs.npz"
        logits = np.eye(len(classes))[pred] * 5
        save_outputs(p, {"train": compact(logits, label)}, member=m, seed_id=m)
        paths.append(str(p))
    save_npz(tmp_path / "canaries.npz", label=label, true_label=label, canary=canary, index=np.array([11]))
    save_npz(tmp_path / "masks.npz", mask=mask, rate=0.5, block_size=k, seed=0)
    index = {"n": n, "labels": label, "test_labels": np.zeros(2, int), "num_classes": len(classes)}
    index["classes"] = np.array(classes)
    if folder:
        index["train_path"] = np.array([f"train/{classes[c]}/img{i:03d}.png" for i, c in enumerate(label)])
    save_npz(tmp_path / "index.npz", **index)
    return paths


def test_scores_and_memorized_csv_name_each_file(tmp_path):
    outputs = _ensemble(tmp_path)
    write_scores(
        tmp_path / "canaries.npz",
        tmp_path / "masks.npz",
        outputs,
        tmp_path / "scores.csv",
        tmp_path / "correct.npz",
        tmp_path / "index.npz",
    )
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert list(scores.columns[:3]) == ["index", "path", "label"]
    assert scores["path"][4] == "train/one/img004.png"
    tau = {"tau": 1.0, "n_memorized": 2, "fraction_memorized": 0.2, "note": None}
    (tmp_path / "thresholds.json").write_text(json.dumps({"min_out": 2, "rules": {"null": {"frac": tau}}}))
    write_memorized(
        tmp_path / "scores.csv",
        tmp_path / "thresholds.json",
        tmp_path / "masks.npz",
        outputs,
        tmp_path / "index.npz",
        tmp_path / "memorized.csv",
        PARAMS,
    )
    t = read_memorized(tmp_path / "memorized.csv")
    assert t["index"].tolist() == [0, 1]  # the canary (11) scores 1.0 too but is no natural point
    first = t.iloc[0]
    assert first["path"] == "train/zero/img000.png" and first["label_name"] == "zero"
    # every held-out member predicts class 2 for point 0: a likely mislabel
    assert first["predicted_instead"] == 2 and first["predicted_instead_name"] == "two"
    assert first["predicted_instead_share"] == 1.0 and first["acc_out"] == 0.0


def test_an_undefined_threshold_writes_an_empty_table_and_bundled_data_has_empty_paths(tmp_path):
    outputs = _ensemble(tmp_path, folder=False)
    write_scores(
        tmp_path / "canaries.npz", tmp_path / "masks.npz", outputs, tmp_path / "s.csv", tmp_path / "c.npz",
        tmp_path / "index.npz",
    )  # fmt: skip
    assert pd.read_csv(tmp_path / "s.csv", keep_default_na=False)["path"].eq("").all()
    undefined = {"tau": 1.0, "n_memorized": None, "note": "fit check failed"}  # τ is there, the set is not
    (tmp_path / "t.json").write_text(json.dumps({"min_out": 2, "rules": {"null": {"frac": undefined}}}))
    write_memorized(
        tmp_path / "s.csv", tmp_path / "t.json", tmp_path / "masks.npz", outputs, tmp_path / "index.npz",
        tmp_path / "m.csv", PARAMS,
    )  # fmt: skip
    t = read_memorized(tmp_path / "m.csv")
    assert t.empty and list(t.columns) == list(pd.read_csv(tmp_path / "m.csv").columns)


def test_a_thresholds_file_of_another_min_out_fails_and_so_does_another_datasets_scores(tmp_path):
    outputs = _ensemble(tmp_path)
    ones = np.ones((1, 12), bool)
    save_csv(tmp_path / "s.csv", score_table(ones, ones, np.zeros(12), np.zeros(12), np.zeros(12)))
    save_csv(
        tmp_path / "other.csv", score_table(ones[:, :5], ones[:, :5], np.zeros(5), np.zeros(5), np.zeros(5))
    )
    (tmp_path / "t.json").write_text(json.dumps({"min_out": 5, "rules": {"null": {"frac": {"tau": 1.0}}}}))
    for scores, message in (("s.csv", "min_out = 5"), ("other.csv", "has 5 rows, the index")):
        with pytest.raises(MemgenError, match=message):
            write_memorized(
                tmp_path / scores, tmp_path / "t.json", tmp_path / "masks.npz", outputs,
                tmp_path / "index.npz", tmp_path / "m.csv", PARAMS,
            )  # fmt: skip


def test_removal_sets_name_the_removed_files(tmp_path):
    from test_stages_utility import REMOVAL, _scores, _thresholds

    from memgen.utility.jobs import write_removal
    from memgen.utility.removal import load_removal

    df = _scores(tmp_path / "s.csv", [0.1, 0.5, 0.3, 0.25, 0.9, 0.9], [0, 0, 0, 0, 0, 1], [3] * 6)
    df.insert(1, "path", [f"train/a/{i}.png" for i in range(6)])
    df.to_csv(tmp_path / "s.csv", index=False)
    _thresholds(tmp_path / "t.json", fixed_tau=0.25, null_tau=0.4)
    write_removal(tmp_path / "s.csv", tmp_path / "t.json", tmp_path / "r.npz", REMOVAL)
    sets = load_removal(tmp_path / "r.npz")
    assert sets["memorized_path"].tolist() == [
        "train/a/1.png",
        "train/a/2.png",
        "train/a/3.png",
        "train/a/4.png",
    ]
    assert sets["random_path"].tolist() == [f"train/a/{i}.png" for i in sets["random"]]
    # datasets without files: the arrays are there, empty strings
    df["path"] = ""
    df.to_csv(tmp_path / "s.csv", index=False)
    write_removal(tmp_path / "s.csv", tmp_path / "t.json", tmp_path / "r.npz", REMOVAL)
    assert load_removal(tmp_path / "r.npz")["memorized_path"].tolist() == [""] * 4


def test_class_names_like_na_and_null_stay_text(tmp_path):
    scores = pd.DataFrame(
        {"label": [0, 1], "fz": [1.0, 1.0], "frac": [1.0, 1.0], "acc_in": 1.0, "acc_out": [0.0, np.nan]}
        | {"n_in": 3, "n_out": [3, 0]}
    )
    held = {"instead": np.array([1, NONE]), "instead_share": np.array([1.0, np.nan])}
    t = memorized_table(scores, np.array([True, True]), "frac", ["NA", "null"], ["", ""], held)
    save_csv(tmp_path / "m.csv", t)
    back = read_memorized(tmp_path / "m.csv")
    assert back["label_name"].tolist() == ["NA", "null"] and back["predicted_instead_name"].tolist() == [
        "null",
        "",
    ]
    assert back["path"].tolist() == ["", ""] and np.isnan(back["predicted_instead_share"][1])
    assert back["acc_out"].dtype == float


def test_memorized_csv_says_which_points_rest_on_the_tie_and_what_conf_and_lira_say(tmp_path):
    from memgen.scores.thresholds import compute_thresholds, read_scores

    outputs = _ensemble(tmp_path)
    write_scores(
        tmp_path / "canaries.npz", tmp_path / "masks.npz", outputs, tmp_path / "scores.csv",
        tmp_path / "correct.npz", tmp_path / "index.npz",
    )  # fmt: skip
    scores = read_scores(tmp_path / "scores.csv")
    # the canary (11) and points 0 and 1 are never right when held out: frac = 1.0, τ = 1.0 is their tie
    th = compute_thresholds(scores, 0.05, "upper", 0.25, 2)
    (tmp_path / "thresholds.json").write_text(json.dumps(th))
    write_memorized(
        tmp_path / "scores.csv", tmp_path / "thresholds.json", tmp_path / "masks.npz", outputs,
        tmp_path / "index.npz", tmp_path / "memorized.csv", PARAMS,
    )  # fmt: skip
    t = read_memorized(tmp_path / "memorized.csv")
    assert t["index"].tolist() == [0, 1] and t["at_tau"].tolist() == [True, True]
    assert t["tie"][0] == (
        "scores exactly tau = 1, like 100 % of canaries: no held-out member gets it right; "
        "the strict reading (score > tau) drops it"
    )
    # conf's and lira's verdicts are their own null-rule sets, read on the same points
    for d in ("conf", "lira"):
        own = th["rules"]["null"][d]
        expected = (
            [bool(scores[d][i] >= own["tau"]) for i in (0, 1)]
            if own["n_memorized"] is not None
            else [None] * 2
        )
        assert [None if v is pd.NA else bool(v) for v in t[f"{d}_memorized"]] == expected
    assert th["rules"]["null"]["frac"]["n_memorized_strict"] == 0


def test_a_point_above_tau_has_no_tie_and_an_old_file_still_reads(tmp_path):
    scores = pd.DataFrame(
        {"label": [0, 1], "fz": [0.9, 0.5], "frac": [1.0, 0.8], "conf": [0.9, 0.1], "lira": [0.9, 0.1]}
        | {"acc_in": 1.0, "acc_out": [0.0, 0.1], "n_in": 3, "n_out": 3}
    )
    held = {"instead": np.array([1, 0]), "instead_share": np.array([1.0, 0.6])}
    tie = {
        "tau": 0.8,
        "words": "scores exactly tau = 0.8",
        "verdicts": {"conf": np.array([True, False]), "lira": None},
    }
    t = memorized_table(scores, np.array([True, True]), "frac", ["a", "b"], ["", ""], held, tie)
    assert t["at_tau"].tolist() == [False, True] and t["tie"].tolist() == ["", "scores exactly tau = 0.8"]
    save_csv(tmp_path / "m.csv", t)
    back = read_memorized(tmp_path / "m.csv")
    assert back["conf_memorized"].tolist() == [True, False] and back["lira_memorized"].isna().all()
    assert back["tie"].tolist() == ["", "scores exactly tau = 0.8"]
    # a memorized.csv written before the tie columns reads with them empty
    save_csv(tmp_path / "old.csv", t.drop(columns=["at_tau", "tie", "conf_memorized", "lira_memorized"]))
    old = read_memorized(tmp_path / "old.csv")
    assert list(old.columns) == list(t.columns) and old["at_tau"].isna().all() and old["tie"].eq("").all()


@pytest.mark.parametrize("q, flagged", [(0.1, True), (0.05, False)])
def test_memorized_csv_gives_both_rules_verdicts(tmp_path, q, flagged):
    """Points 0 and 1 (right in all 4 in-members, none of 4 held out) are Eq. 3's tie at τ = 1; the exact
    test gives each p = 1 / C(8, 4) = 1/70, BH-adjusted over the 11 natural points scored to 11/140: flagged
    at q = 0.1, not at 0.05. The rows stay Eq. 3's set; each carries both verdicts."""
    from memgen.scores.thresholds import compute_thresholds, read_scores

    outputs = _ensemble(tmp_path)
    write_scores(
        tmp_path / "canaries.npz", tmp_path / "masks.npz", outputs, tmp_path / "scores.csv",
        tmp_path / "correct.npz", tmp_path / "index.npz",
    )  # fmt: skip
    th = compute_thresholds(read_scores(tmp_path / "scores.csv"), 0.05, "upper", 0.25, 2, fdr_q=q)
    (tmp_path / "thresholds.json").write_text(json.dumps(th))
    write_memorized(
        tmp_path / "scores.csv", tmp_path / "thresholds.json", tmp_path / "masks.npz", outputs,
        tmp_path / "index.npz", tmp_path / "memorized.csv", PARAMS,
    )  # fmt: skip
    t = read_memorized(tmp_path / "memorized.csv")
    assert t["index"].tolist() == [0, 1] and t["null_memorized"].tolist() == [True, True]
    assert t["test_memorized"].tolist() == [flagged, flagged]
    assert t["test_p"].tolist() == pytest.approx([1 / 70] * 2)
    assert t["test_q"].tolist() == pytest.approx([11 / 140] * 2)
    assert th["rules"]["test"]["frac"]["n_memorized"] == (2 if flagged else 0)


def test_an_old_memorized_csv_reads_with_empty_rule_columns(tmp_path):
    from memgen.analysis.memorized import RULE_COLUMNS

    scores = pd.DataFrame(
        {"label": [0], "fz": [0.9], "frac": [1.0], "acc_in": 1.0, "acc_out": [0.0], "n_in": 3, "n_out": 3}
    )
    held = {"instead": np.array([1]), "instead_share": np.array([1.0])}
    t = memorized_table(scores, np.array([True]), "frac", ["a", "b"], [""], held)
    save_csv(tmp_path / "m.csv", t.drop(columns=list(RULE_COLUMNS)))
    back = read_memorized(tmp_path / "m.csv")
    assert back["test_memorized"].isna().all() and back["test_p"].isna().all()
    assert back["null_memorized"].dtype == "boolean"
