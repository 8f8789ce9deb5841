"""The streaming loader inside the workflow: a small generated JPEG folder, read with loader: stream and
ImageNet's random-resized crops, through members, scores and a utility run."""

import numpy as np
import pytest
from test_stream import write_folder
from workflow_helpers import copy_workflow, snakemake, tiny_config

from memgen.ensemble.outputs import load_outputs

pytestmark = pytest.mark.workflow


def test_streamed_folder_through_members_scores_and_a_utility_run(tmp_path):
    folder = write_folder(tmp_path / "photos", classes=3, per_class=10, test_per_class=3, size=(40, 30))
    cfg = tiny_config()
    cfg["datasets"] = {
        "mine": {
            "kind": "imagefolder",
            "root": str(folder),
            "image_size": 16,
            "loader": "stream",
            "loader_workers": 1,
            "archs": {"cnn": {"model": {"width": 4}}},
            "training": {"random_resized_crop": True, "flip": True, "batch_size": 8, "epochs": 2},
        }
    }
    cfg["ensembles"] = {"rate0.7": {"rate": 0.7, "members": 16}, "rate0.95": {"rate": 0.95, "members": 16}}
    cfg["shard_size"] = 16
    cfg["utility"] = {"seeds": 2, "shard_size": 2, "duplicate_threshold": 0.99}
    wd = copy_workflow(tmp_path / "wf", cfg)
    scores = "results/mine/cnn/rate0.7/scores.csv"
    run = "results/mine/cnn/utility/rate0.7-fz-fixed/random/0/0/outputs.npz"
    memorized, gallery = "results/mine/cnn/memorized.csv", "results/figures/gallery_mine_cnn.png"
    snakemake(wd, scores, run, memorized, gallery)

    log = (wd / "logs/mine/cnn/rate0.7/members/0/0.log").read_text()
    assert "streaming 30 training images" in log and "1 decoding workers" in log
    train = load_outputs(
        wd / "results/mine/cnn/rate0.7/members/0/3/outputs.npz", n=30, fields=("pred", "log_odds")
    )["train"]
    assert train["pred"].shape == (30,) and np.isfinite(train["log_odds"]).all()
    table = (wd / scores).read_text().splitlines()
    assert len(table) == 31  # a header and one row per training image
    # every per-point output names its file: scores.csv, memorized.csv, the removal sets
    import pandas as pd

    from memgen.analysis.memorized import read_memorized
    from memgen.utility.removal import load_removal

    files = sorted(str(p.relative_to(folder)) for p in (folder / "train").rglob("*.jpg"))
    assert sorted(pd.read_csv(wd / scores)["path"]) == files
    listed = read_memorized(wd / memorized)
    assert set(listed["path"]) <= set(files) and (listed["label_name"] != "").all()
    assert all(p.startswith(f"train/{c}/") for p, c in zip(listed["path"], listed["label_name"], strict=True))
    removal = load_removal(wd / "results/mine/cnn/removal/rate0.7-fz-fixed.npz")
    assert set(removal["random_path"]) <= set(files) and len(removal["random_path"]) == len(removal["random"])
    assert (wd / gallery).stat().st_size > 5000
    tests = load_outputs(wd / run, sets=("test_original",))
    assert len(tests["test_original"]["pred"]) == 9
    # the loader is how a job runs, not what it trains: switching to memory reruns nothing
    cfg["datasets"]["mine"]["loader"] = "auto"
    cfg["datasets"]["mine"]["loader_workers"] = 2
    copy_workflow(wd, cfg)
    assert "Nothing to be done" in snakemake(wd, "-n", scores, run).stdout
