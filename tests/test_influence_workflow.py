"""Influence through the workflow: a folder of PNG digits with one planted near-duplicate pair, a training
image in a style no other image has (an inverted "1") and its slightly noisy copy in the test set. The test
copy is right only when its twin is trained on, so influence.csv names the twin as its top pair."""

import numpy as np
import pytest
from PIL import Image
from test_memorized_workflow import write_digits
from workflow_helpers import copy_workflow, snakemake, tiny_config

from memgen.influence.jobs import read_influence

pytestmark = pytest.mark.workflow

TWIN_TRAIN, TWIN_TEST = "train/one/zz_twin.png", "test/one/zz_twin.png"


def plant_twin(base) -> None:
    from sklearn.datasets import load_digits

    d = load_digits()
    one = np.round(d.images[np.flatnonzero(d.target == 1)[-1]] * (255 / 16))
    inverted = 255 - one
    noise = np.random.default_rng(0).integers(-12, 13, one.shape)
    Image.fromarray(inverted.astype(np.uint8)).save(base / TWIN_TRAIN)
    Image.fromarray(np.clip(inverted + noise, 0, 255).astype(np.uint8)).save(base / TWIN_TEST)


def test_a_planted_near_duplicate_is_the_top_pair_of_its_test_point(tmp_path):
    write_digits(tmp_path / "mine", planted=0)
    plant_twin(tmp_path / "mine")
    cfg = tiny_config()
    cfg["datasets"] = {
        "mine": {"kind": "imagefolder", "root": str(tmp_path / "mine"), "image_size": 8, "archs": {"mlp": {}}}
    }
    cfg["training"] |= {"epochs": 40, "batch_size": 32, "lr_peak": 0.15, "weight_decay": 0.0005}
    cfg["ensembles"] = {"rate0.5": {"rate": 0.5, "members": 32}, "rate0.95": {"rate": 0.95, "members": 32}}
    cfg["ablation"] |= {"baseline": "rate0.5"}
    # 16 members hold each point out; rate0.5 is also the baseline here (no third ensemble to train), so the
    # pairs are not cross-fitted: this test is about the planted twin, not the split
    cfg["influence"] = {"ensemble": "rate0.5", "crossfit": False}
    cfg["shard_size"] = 16
    wd = copy_workflow(tmp_path / "wf", cfg)
    influence = "results/mine/mlp/influence.csv"
    snakemake(wd, influence, "results/figures/influence_mine_mlp.png")

    table = read_influence(wd / influence)
    log = (wd / "logs/mine/mlp/influence.log").read_text()
    twin = table[table["test_file"] == TWIN_TEST]
    top = twin[twin["rank"] == 1]
    assert len(top) == 1 and top.iloc[0]["train_file"] == TWIN_TRAIN, f"{twin}\n{log}"
    assert top.iloc[0]["infl"] >= 0.5 and top.iloc[0]["high"], f"{twin}\n{log}"
    assert top.iloc[0]["infl_lo"] <= top.iloc[0]["infl"] <= top.iloc[0]["infl_hi"]
    assert (wd / "results/figures/influence_mine_mlp.png").stat().st_size > 5000
