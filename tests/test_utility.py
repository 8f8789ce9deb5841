import numpy as np
import pandas as pd
import pytest

from memgen.errors import MemgenError
from memgen.utility.runs import accuracy, dedup_keep, utility_frame

PRED = np.array([0, 1, 0, 1], dtype=np.uint16)  # compact outputs store the argmax class as uint16
LABELS = np.array([0, 1, 1, 0])


def test_accuracy_whole_and_subset():
    assert accuracy(PRED, LABELS) == pytest.approx(0.5)
    assert accuracy(PRED, LABELS, keep=np.array([True, True, False, False])) == pytest.approx(1.0)
    assert accuracy(PRED, LABELS, keep=np.array([0, 2])) == pytest.approx(0.5)
    with pytest.raises(MemgenError, match="empty"):
        accuracy(PRED, LABELS, keep=np.zeros(4, dtype=bool))
    with pytest.raises(MemgenError, match="mask"):
        accuracy(PRED, LABELS, keep=np.ones(3, dtype=bool))
    with pytest.raises(MemgenError, match="do not match"):
        accuracy(PRED, LABELS[:3])
    with pytest.raises(MemgenError, match="do not match"):
        accuracy(np.zeros((4, 2)), LABELS)  # logits are not predictions


def test_dedup_keep_drops_listed_test_points():
    dups = pd.DataFrame({"TestID": [3, 1, 3], "TrainID": [7, 8, 9], "Distance": 0.1, "Judgment": 1})
    assert dedup_keep(5, dups).tolist() == [True, False, True, False, True]
    with pytest.raises(MemgenError, match="outside"):
        dedup_keep(3, dups)
    with pytest.raises(MemgenError, match="TestID"):
        dedup_keep(5, dups.rename(columns={"TestID": "test"}))


def test_utility_frame_pairs_by_seed_not_by_order():
    mem = {3: 0.80, 1: 0.82, 2: 0.81}
    rnd = {1: 0.80, 2: 0.815, 3: 0.79}
    cls = {2: 0.80, 3: 0.80, 1: 0.81}
    df = utility_frame(mem, rnd, n_removed=42, test_set="dedup", acc_random_class=cls)
    assert df.columns.tolist() == [
        "seed", "acc_memorized", "acc_random", "diff_pp", "acc_random_class", "diff_class_pp", "test_set",
        "n_removed",
    ]  # fmt: skip
    assert df["seed"].tolist() == [1, 2, 3]
    assert df["diff_class_pp"].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert utility_frame(mem, rnd, 42, "dedup")["acc_random_class"].isna().all()  # no class-matched runs
    assert df["acc_memorized"].tolist() == pytest.approx([82.0, 81.0, 80.0])
    assert df["acc_random"].tolist() == pytest.approx([80.0, 81.5, 79.0])
    assert df["diff_pp"].tolist() == pytest.approx([2.0, -0.5, 1.0])
    assert set(df["test_set"]) == {"dedup"} and set(df["n_removed"]) == {42}


def test_utility_frame_rejects_unpaired_seeds_and_percentages():
    with pytest.raises(MemgenError, match=r"only after memorized removal \[4\]"):
        utility_frame({1: 0.8, 4: 0.8}, {1: 0.8}, 5, "original")
    with pytest.raises(MemgenError, match=r"only after class-matched removal \[2\]"):
        utility_frame({1: 0.8}, {1: 0.8}, 5, "original", {1: 0.8, 2: 0.8})
    with pytest.raises(MemgenError, match="fractions"):
        utility_frame({1: 80.0}, {1: 79.0}, 5, "original")
