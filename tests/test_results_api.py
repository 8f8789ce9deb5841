"""memgen.open: a study's files with the dtypes they mean, and a missing file named with its rule."""

import json

import numpy as np
import pandas as pd
import pytest

import memgen
from memgen.errors import MemgenError


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "results" / "digits" / "mlp"
    (d / "rate0.95").mkdir(parents=True)
    pd.DataFrame(
        {
            "index": [0, 1, 2],
            "path": ["", "", ""],
            "label": [3, 1, 4],
            "canary": [0, 1, 0],
            "fz": [0.0, 1.0, np.nan],
        }
    ).to_csv(d / "rate0.95" / "scores.csv", index=False)
    pd.DataFrame(
        {"index": [2], "path": ["NA.png"], "label_name": ["None"], "null_memorized": [True], "tie": [""]}
    ).to_csv(d / "memorized.csv", index=False)
    (d / "rate0.95" / "thresholds.json").write_text(json.dumps({"null_size": 1}))
    np.savez(d / "rate0.95" / "masks.npz", mask=np.array([[1, 0, 1]], dtype=np.uint8))
    return tmp_path


def test_columns_come_with_their_meaning(folder):
    study = memgen.open(folder)  # the working directory or its results/ folder alike
    assert study.runs() == [("digits", "mlp")] and study.ensembles() == ["rate0.95"]
    s = study.scores("rate0.95")
    assert s["path"].tolist() == ["", "", ""]  # no NaN for a dataset without files
    assert s["canary"].dtype == bool and s["canary"].tolist() == [False, True, False]
    assert np.isnan(s["fz"].iloc[2])
    m = memgen.open(folder / "results").memorized()
    # a file named NA.png, a class named None and an empty note stay text
    assert (
        m["path"].tolist() == ["NA.png"]
        and m["label_name"].tolist() == ["None"]
        and m["tie"].tolist() == [""]
    )
    assert m["null_memorized"].dtype == bool
    assert study.thresholds("rate0.95") == {"null_size": 1}
    assert study.masks("rate0.95").dtype == bool


def test_a_missing_file_names_its_rule(folder):
    study = memgen.open(folder)
    with pytest.raises(
        MemgenError, match=r"influence.csv does not exist.*snakemake results/digits/mlp/influence.csv"
    ):
        study.influence()
    with pytest.raises(MemgenError, match=r"rule table3"):
        study.table3()
    with pytest.raises(MemgenError, match="0 studies match dataset=cifar10"):
        study.scores("rate0.95", dataset="cifar10")
    with pytest.raises(MemgenError, match="not a folder"):
        memgen.open(folder / "nowhere")
