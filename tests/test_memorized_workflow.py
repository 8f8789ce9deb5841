"""The audit's user story through the workflow: a folder of PNG digits with two mislabelled files;
memorized.csv and the gallery name them, and held-out members say which class they really are."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from workflow_helpers import copy_workflow, snakemake, tiny_config

from memgen.analysis.memorized import read_memorized

pytestmark = pytest.mark.workflow

CLASSES = {"one": 1, "seven": 7, "zero": 0}


def write_digits(base, per_class=40, test_per_class=8, planted=2):
    """train/<class>/ and test/<class>/ of 8x8 PNG digits; the first `planted` training "1"s are saved
    under train/seven/ as well (mislabelled copies). Returns the planted files' relative paths."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * (255 / 16)).astype(np.uint8)
    planted_paths = []
    for name, digit in CLASSES.items():
        idx = np.flatnonzero(d.target == digit)
        for split, chosen in (
            ("train", idx[:per_class]),
            ("test", idx[per_class : per_class + test_per_class]),
        ):
            (base / split / name).mkdir(parents=True, exist_ok=True)
            for i in chosen:
                Image.fromarray(x[i]).save(base / split / name / f"digit{i:04d}.png")
        if name == "one":  # written among the sevens, under names that sort last
            for i in idx[per_class + test_per_class :][:planted]:
                rel = f"train/seven/zz_mislabelled_{i:04d}.png"
                (base / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(x[i]).save(base / rel)
                planted_paths.append(rel)
    return planted_paths


def test_memorized_csv_and_gallery_name_planted_mislabels(tmp_path):
    planted = write_digits(tmp_path / "mine")
    cfg = tiny_config()
    cfg["datasets"] = {
        "mine": {"kind": "imagefolder", "root": str(tmp_path / "mine"), "image_size": 8, "archs": {"mlp": {}}}
    }
    # a grey folder is one channel: 0.15 is the step 0.05 took on three identical channels' first layer
    cfg["training"] |= {"epochs": 40, "batch_size": 32, "lr_peak": 0.15, "weight_decay": 0.0005}
    cfg["ensembles"] = {"rate0.7": {"rate": 0.7, "members": 16}, "rate0.95": {"rate": 0.95, "members": 64}}
    cfg["shard_size"] = 16
    wd = copy_workflow(tmp_path / "wf", cfg)
    memorized, gallery = "results/mine/mlp/memorized.csv", "results/figures/gallery_mine_mlp.png"
    snakemake(wd, memorized, gallery)

    scores = pd.read_csv(wd / "results/mine/mlp/rate0.95/scores.csv", keep_default_na=False)
    assert set(planted) <= set(scores["path"]) and scores["path"].str.startswith("train/").all()
    table = read_memorized(wd / memorized)
    log = (wd / "logs/mine/mlp/memorized.log").read_text()
    found = table[table["path"].isin(planted)]
    assert len(found) == len(planted), f"{table}\n{log}"
    # given label "seven"; members that never saw the file call it a "one", nearly all of them
    assert (found["label_name"] == "seven").all() and (found["predicted_instead_name"] == "one").all()
    assert (found["predicted_instead_share"] >= 0.75).all()
    assert (wd / gallery).stat().st_size > 5000
