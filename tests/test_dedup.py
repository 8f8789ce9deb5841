import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from memgen.ensemble.duplicates import (
    DUPLICATE_COLUMNS,
    detection_quality,
    load_duplicate_list,
    near_duplicates,
)
from memgen.errors import MemgenError

CIFAIR = Path(__file__).resolve().parents[1] / "data" / "cifair"


def test_nearest_neighbour_by_cosine_by_hand():
    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    test = np.array([[2.0, 0.1], [-1.0, 0.0], [1.0, 1.05], [0.0, 3.0]])
    df = near_duplicates(train, test, threshold=0.99)
    assert df.columns.tolist() == DUPLICATE_COLUMNS
    # test 0 -> train 0: cos = 2 / sqrt(4.01); test 2 -> train 2: cos = 2.05 / (sqrt 2 sqrt 2.1025);
    # test 3 is train 1 scaled (cos 1, distance 0); test 1's best match is train 1 with cos 0 (dropped)
    cos0 = 2 / math.sqrt(4.01)
    cos2 = 2.05 / (math.sqrt(2) * math.sqrt(2.1025))
    by_test = df.set_index("TestID")
    assert sorted(by_test.index) == [0, 2, 3]
    assert by_test["TrainID"].to_dict() == {0: 0, 2: 2, 3: 1}
    assert by_test.loc[0, "Distance"] == pytest.approx(math.sqrt(2 - 2 * cos0), abs=1e-6)
    assert by_test.loc[2, "Distance"] == pytest.approx(math.sqrt(2 - 2 * cos2), abs=1e-5)
    assert by_test.loc[3, "Distance"] == pytest.approx(0.0, abs=1e-6)
    assert df["Distance"].is_monotonic_increasing and set(df["Judgment"]) == {1}
    # ties go to the lowest training index
    tie = near_duplicates(np.array([[1.0, 0.0], [2.0, 0.0]]), np.array([[3.0, 0.0]]), threshold=0.5)
    assert tie["TrainID"].tolist() == [0]


def planted(seed=0, n_train=3000, n_test=800, dim=64, n_dup=40, noise=0.1):
    """Gaussian features; n_dup test points are noisy copies of training points."""
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(n_train, dim)).astype(np.float32)
    test = rng.normal(size=(n_test, dim)).astype(np.float32)
    test_ids = rng.choice(n_test, n_dup, replace=False)
    train_ids = rng.choice(n_train, n_dup, replace=False)
    # noise of 0.1 per coordinate on unit-variance features: cosine about 1 / sqrt(1.01) = 0.995
    test[test_ids] = train[train_ids] + noise * rng.normal(size=(n_dup, dim))
    return train, test, list(zip(test_ids.tolist(), train_ids.tolist(), strict=True))


def test_detector_finds_planted_duplicates_in_chunks():
    train, test, pairs = planted()
    # unrelated 64-d Gaussian vectors have |cos| < 0.6 here; planted copies have cos ~ 0.995
    found = near_duplicates(train, test, threshold=0.9, test_chunk=97, train_chunk=700)
    q = detection_quality(found, pairs)
    assert q == {"recall": 1.0, "precision": 1.0}
    whole = near_duplicates(train, test, threshold=0.9)
    # exact: blocks only choose the neighbours; distances are recomputed in float64 from the chosen pairs
    pd.testing.assert_frame_equal(found, whole, check_exact=True)
    # a threshold above every planted similarity finds nothing
    assert near_duplicates(train, test, threshold=0.9999).empty


def test_detector_recall_drops_with_heavy_noise():
    train, test, pairs = planted(noise=1.0)  # cosine about 1 / sqrt 2 = 0.71
    q = detection_quality(near_duplicates(train, test, threshold=0.9), pairs)
    assert q["recall"] < 0.2


def test_detection_quality_by_hand():
    found = pd.DataFrame({"TestID": [0, 1], "TrainID": [5, 9], "Distance": 0.1, "Judgment": 1})
    q = detection_quality(found, [(0, 5), (1, 6), (2, 7)])
    assert q["recall"] == pytest.approx(1 / 3) and q["precision"] == pytest.approx(1 / 2)
    none = detection_quality(found.iloc[:0], [(0, 5)])
    assert none["recall"] == 0 and math.isnan(none["precision"])


def test_bad_features_raise():
    with pytest.raises(MemgenError, match="all zero"):
        near_duplicates(np.zeros((2, 3)), np.ones((1, 3)), 0.9)
    with pytest.raises(MemgenError, match="dimensions"):
        near_duplicates(np.ones((2, 3)), np.ones((1, 4)), 0.9)
    with pytest.raises(MemgenError, match="cosine"):
        near_duplicates(np.ones((2, 3)), np.ones((1, 3)), 1.5)


def test_load_cifair_list_and_reject_bad_ones(tmp_path):
    df = load_duplicate_list(CIFAIR / "duplicates_cifar10.csv")
    assert len(df) == 286 and df.columns.tolist() == DUPLICATE_COLUMNS
    assert df["TestID"].dtype == np.int64 and df["TestID"].max() < 10_000 and df["TrainID"].max() < 50_000
    bad = tmp_path / "bad.csv"
    bad.write_text("test,train\n1,2\n")
    with pytest.raises(MemgenError, match="lacks columns"):
        load_duplicate_list(bad)
    bad.write_text("TestID,TrainID,Distance,Judgment\n1.5,2,0.1,1\n")
    with pytest.raises(MemgenError, match="integers"):
        load_duplicate_list(bad)
    with pytest.raises(MemgenError, match="does not exist"):
        load_duplicate_list(tmp_path / "missing.csv")


def test_degenerate_rows():
    from memgen.ensemble.duplicates import degenerate

    x = np.array([[1.0, 0.0], [0.0, 0.0], [np.nan, 1.0], [np.inf, 0.0], [0.0, -2.0]])
    assert degenerate(x).tolist() == [False, True, True, True, False]
    assert degenerate(x, chunk=2).tolist() == [False, True, True, True, False]


def test_detect_passes_over_a_space_with_dead_features():
    from memgen.ensemble.duplicates import detect

    train = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    test = np.array([[2.0, 0.1], [0.0, 3.0]])
    dead = (train * [1.0, 0.0], test * [1.0, 0.0])  # feature 2 dead: train 1 and test 1 are all zero
    calls = []

    def space(name, value):
        return name, lambda: calls.append(name) or value

    df, report = detect([space("member 0", dead), space("pixels", (train, test)), space("never", None)], 0.99)
    assert calls == ["member 0", "pixels"]  # later spaces are not computed
    assert report["space"] == "pixels" and report["degenerate"]["member 0"]["train_ids"] == [1]
    assert report["degenerate"]["member 0"] | {} == {"train": 1, "test": 1, "train_ids": [1], "test_ids": [1]}
    assert df[["TestID", "TrainID"]].values.tolist() == [[1, 1], [0, 0]]
    assert (df["Features"] == "pixels").all()
    # a healthy first space is used as it is, with the same pairs as near_duplicates
    df, report = detect([space("pixels", (train, test))], 0.99)
    assert report["degenerate"] == {} and df[DUPLICATE_COLUMNS].equals(near_duplicates(train, test, 0.99))


def test_detect_leaves_points_degenerate_everywhere_out_never_fails():
    from memgen.ensemble.duplicates import detect

    train = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    test = np.array([[0.0, 0.0], [1.0, 1.01], [3.0, 0.0]])
    df, report = detect([("pixels", lambda: (train, test))], 0.99)
    assert report["excluded"] == {"train": [1], "test": [0]}
    # ids are those of the full sets: test 1 -> train 2, test 2 -> train 0
    assert sorted(df[["TestID", "TrainID"]].values.tolist()) == [[1, 2], [2, 0]]
    df, _ = detect([("pixels", lambda: (np.zeros((2, 2)), test))], 0.99)
    assert df.empty and list(df.columns) == [*DUPLICATE_COLUMNS, "Features"]


def test_write_duplicates_with_a_dead_member_goes_on(tmp_path, caplog):
    """The issue's failure: member 0's hidden units all dead on some images. The stage falls back to the
    first members' features concatenated, logs it, and writes the list."""
    import logging

    import torch

    from memgen.data.loaders import load_dataset
    from memgen.ensemble.duplicate_jobs import write_duplicates
    from memgen.ensemble.models import MLP
    from memgen.io import save_checkpoint

    ds = load_dataset("digits", {}, "data")
    paths = []
    for k in range(2):
        torch.manual_seed(k)
        model = MLP(ds.x_train.shape[1:], 10, hidden=16)
        if k == 0:  # every hidden unit dead on images darker than average: their features are all zero
            with torch.no_grad():
                model.body[1].weight.fill_(1.0 / 64)
                model.body[1].bias.fill_(0.0)
        ck = {"state_dict": model.state_dict(), "arch": "mlp", "config": {"model": {"hidden": 16}}}
        ck |= {"mean": ds.mean.tolist(), "std": ds.std.tolist(), "member": k}
        out = tmp_path / f"members/0/{k}/outputs.npz"
        save_checkpoint(out.with_name("checkpoint.pt"), ck)
        paths.append(str(out))
    source = {"member": paths[0], "members": paths}
    with caplog.at_level(logging.WARNING, logger="memgen.ensemble.duplicate_jobs"):
        write_duplicates("digits", source, {"loader": {}, "threshold": 0.99}, tmp_path / "dups.csv")
    df = pd.read_csv(tmp_path / "dups.csv")
    assert (df["Features"] == "members 0-1 features concatenated").all()
    assert "member 0 features that are all zero or not finite" in caplog.text
    assert "near-duplicates detected in members 0-1 features concatenated" in caplog.text
    assert load_duplicate_list(tmp_path / "dups.csv").columns.tolist() == DUPLICATE_COLUMNS
