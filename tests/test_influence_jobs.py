"""The influence stage's jobs on small files written here: influence.csv from member outputs, a member of the
wrong shape, the comparison with the duplicate list, Table 3 split by partner against a hand computation."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.memorized import COLUMNS
from memgen.ensemble.outputs import save_outputs
from memgen.errors import MemgenError
from memgen.influence.jobs import (
    INFLUENCE_COLUMNS,
    read_influence,
    write_influence,
    write_influence_duplicates,
    write_table3_split,
)
from memgen.io import save_npz
from memgen.utility.removal import save_removal

K, N, T, C = 24, 10, 6, 3
PARAMS = {"ensemble": "rate0.5", "top": 2, "threshold": 0.15, "alpha": 0.05}


def outputs(pred, labels):
    pred = np.asarray(pred)
    return {
        "pred": pred.astype(np.uint16),
        "margin": np.zeros(len(pred)),
        "log_odds": np.where(pred == labels, 2.0, -2.0),
    }


def influence(tmp, members, out="influence.csv"):
    """write_influence on the study's files, to tmp / out."""
    inputs = [tmp / f for f in ("masks.npz", "index.npz", "canaries.npz", "memorized.csv")]
    return write_influence(inputs[0], members, *inputs[1:], tmp / out, PARAMS)


@pytest.fixture
def study(tmp_path):
    """K members of a 10-point, 6-test-point, 3-class dataset. Test point 0 is right exactly when training
    point 3 is in (a planted twin); training point 9 is a canary, training point 3 is memorized."""
    rng = np.random.default_rng(0)
    labels, test_labels = np.arange(N) % C, np.arange(T) % C
    save_npz(
        tmp_path / "index.npz",
        n=N,
        labels=labels,
        num_classes=C,
        classes=np.array(["a", "b", "c"]),
        test_labels=test_labels,
    )
    mask = np.zeros((K, N), dtype=bool)
    for i in range(N):
        mask[rng.permutation(K)[: K // 2], i] = True
    save_npz(tmp_path / "masks.npz", mask=mask)
    canary = np.zeros(N, dtype=bool)
    canary[9] = True
    save_npz(tmp_path / "canaries.npz", canary=canary)
    members = []
    for k in range(K):
        right = rng.random(T) < 0.7
        right[0] = mask[k, 3]
        right[1] = mask[k, 9]  # leans on the canary alone: never reported
        pred = np.where(right, test_labels, (test_labels + 1) % C)
        path = tmp_path / f"members/{k}/outputs.npz"
        save_outputs(
            path, {"train": outputs(labels, labels), "test_original": outputs(pred, test_labels)}, member=k
        )
        members.append(str(path))
    row = dict.fromkeys(COLUMNS, "")
    row |= {"index": 3, "label": 0, "score": 1.0}
    pd.DataFrame([row], columns=list(COLUMNS)).to_csv(tmp_path / "memorized.csv", index=False)
    return tmp_path, members, mask


def test_influence_csv_names_the_planted_twin(study):
    tmp, members, mask = study
    out = tmp / "influence.csv"
    got = influence(tmp, members)
    table = read_influence(out)
    assert list(table.columns) == list(INFLUENCE_COLUMNS)
    first = table[(table["test_index"] == 0) & (table["rank"] == 1)].iloc[0]
    assert first["train_index"] == 3 and first["infl"] == 1.0 and first["high"] and first["memorized"]
    assert (
        first["train_label_name"] == "a"
        and first["test_label_name"] == "a"
        and first["test_set"] == "original"
    )
    assert 9 not in set(table["train_index"])  # the canary
    assert got["high"] == int(table["high"].sum()) >= 1


def test_a_member_of_the_wrong_shape_fails_in_one_line_naming_it(study):
    tmp, members, _ = study
    labels = np.arange(N) % C
    save_outputs(
        members[5],
        {"train": outputs(labels, labels), "test_original": outputs(np.zeros(T - 1), np.zeros(T - 1))},
    )
    with pytest.raises(MemgenError) as e:
        influence(tmp, members, "i.csv")
    assert members[5] in str(e.value) and "\n" not in str(e.value)
    assert not (tmp / "i.csv").exists()


def test_the_detector_comparison_counts_pairs_both_ways(study):
    tmp, members, _ = study
    influence(tmp, members)
    high = read_influence(tmp / "influence.csv")
    n_high = int(high["high"].sum())
    # the detector lists the twin (3, 0) and a pair influence does not know (5, 2)
    pd.DataFrame({"TestID": [0, 2], "TrainID": [3, 5], "Distance": [0.1, 0.2], "Judgment": [1, 1]}).to_csv(
        tmp / "dups.csv", index=False
    )
    df = write_influence_duplicates(tmp / "influence.csv", tmp / "dups.csv", tmp / "cmp.csv").set_index(
        "source"
    )
    assert (
        df.loc["high-influence pairs", "pairs"] == n_high
        and df.loc["high-influence pairs", "found_pair"] == 1
    )
    assert (
        df.loc["duplicate detector pairs", "pairs"] == 2
        and df.loc["duplicate detector pairs", "found_pair"] == 1
    )


def test_table3_split_matches_a_hand_computation(study):
    """Two seeds per condition; test point 0 has the memorized partner 3. Memorized-removed runs miss test
    point 0 and get the rest right; random-removed runs get everything right but test point 5 on seed 1."""
    tmp, members, _ = study
    influence(tmp, members)
    test_labels = np.arange(T) % C
    runs = []
    for condition in ("memorized", "random"):
        for seed in (0, 1):
            pred = test_labels.copy()
            if condition == "memorized":
                pred[0] = (pred[0] + 1) % C
            elif seed == 1:
                pred[5] = (pred[5] + 1) % C
            path = tmp / f"utility/{condition}/0/{seed}/outputs.npz"
            save_outputs(path, {"test_original": outputs(pred, test_labels)}, seed_id=np.int64(seed))
            runs.append(str(path))
    save_removal(
        tmp / "removal.npz", {"memorized": [3], "random": [4], "n_natural": 9, "n_train": N, "reason": ""}
    )
    params = {"dataset": "d", "arch": "a", "variant": "all", "test_set": "original", "seeds": 2}
    df = write_table3_split(
        tmp / "influence.csv", tmp / "removal.npz", runs, tmp / "index.npz", None, tmp / "s.csv", params
    )
    by = df.set_index("part")
    partner = set(read_influence(tmp / "influence.csv").query("high and memorized")["test_index"])
    assert partner == {0}
    # with partner: test point 0 alone, memorized-removed 0 %, random-removed 100 % -> -100 pp on both seeds
    assert by.loc["with_partner", "n_test"] == 1 and by.loc["with_partner", "diff_pp"] == -100.0
    # without: 5 points, memorized 100 %, random 100 % and 80 % -> +0 and +20 pp, mean +10
    assert by.loc["without_partner", "n_test"] == 5 and by.loc["without_partner", "diff_pp"] == pytest.approx(
        10.0
    )
    # all: memorized 5/6, random 6/6 and 5/6 -> -16.67 and 0 pp
    assert by.loc["all", "diff_pp"] == pytest.approx((-100 / 6 + 0) / 2)
    assert list(df["test_set"]) == ["original"] * 3
