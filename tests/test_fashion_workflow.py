"""Fashion-MNIST's real IDX files through the workflow: a stratified 500-image subset (the test set whole),
members, scores, the fit check, thresholds and the memorized set, under the narrow `scope: memorized`."""

import pandas as pd
import pytest
from conftest import unavailable
from workflow_helpers import copy_workflow, snakemake, tiny_config

from memgen.config import FASHION_DEBIAN
from memgen.io import load_json

pytestmark = pytest.mark.workflow


def test_a_fashion_subset_runs_from_the_real_files_to_the_memorized_set(tmp_path):
    if not (FASHION_DEBIAN / "train-images-idx3-ubyte.gz").is_file():
        unavailable(
            f"{FASHION_DEBIAN} lacks Fashion-MNIST's IDX files: apt-get install dataset-fashion-mnist"
        )
    config = tiny_config()
    config["scope"] = "memorized"  # the answer's rules only: no utility runs, no other ensemble
    config["datasets"] = {
        "fashion_mnist": {"subset": 500, "split_seed": 0, "duplicates": "detect", "archs": {"mlp": {}}}
    }
    config["training"]["lr_peak"] = 0.05  # 784 inputs: the digits' 0.2 kills most hidden units
    config["training"]["epochs"] = 20
    work = copy_workflow(tmp_path / "wf", config)
    snakemake(work, "all", timeout=1200)
    pair = work / "results" / "fashion_mnist" / "mlp"
    assert sorted(p.name for p in pair.glob("rate*")) == ["rate0.95"]  # the other ensembles never ran
    scores = pd.read_csv(pair / "rate0.95" / "scores.csv")
    assert len(scores) == 500 and scores["true_label"].value_counts().to_dict() == {c: 50 for c in range(10)}
    assert load_json(pair / "rate0.95" / "fit.json")["ok"], "the 500-image recipe must fit"
    thresholds = load_json(pair / "rate0.95" / "thresholds.json")
    assert thresholds["null_size"] > 0 and thresholds["n_natural_scored"] > 0
    memorized = pd.read_csv(pair / "memorized.csv")
    assert set(memorized.columns) >= {"index", "label_name", "predicted_instead_name"}
    summary = (work / "results" / "summary.rst").read_text()
    assert (
        "fashion_mnist / mlp" in summary
        and "Table 1 (the ablation of the four fixes) was not built" in summary
    )
