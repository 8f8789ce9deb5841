"""Replicates through the workflow, on the tiny study with R = 2: the replicates differ, each reproduces
alone, the tables carry both and their combination, and raising R to 3 plans only replicate 3's jobs."""

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import copy_workflow, planned_jobs, snakemake, tiny_config

from memgen.utility.replicates import across

pytestmark = pytest.mark.workflow

TARGETS = (
    "results/table1.csv",
    "results/table3.csv",
    "results/replicate_overlap.csv",
    "results/digits/mlp/memorized_replicates.csv",
)
# jobs that read every replicate: they rerun when one is added
AGGREGATES = {"table1", "table3", "replicate_overlap", "memorized_replicates"}


def config(r: int) -> dict:
    cfg = tiny_config()
    cfg["replicates"] = r
    return cfg


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("replicates"), config(2))
    snakemake(wd, *TARGETS)
    return wd


def test_the_replicates_differ_and_the_tables_combine_them(two):
    r = two / "results"
    masks = [np.load(r / f"{d}/mlp/rate0.95/masks.npz")["mask"] for d in ("digits", "digits.rep2")]
    canaries = [np.load(r / f"{d}/data/canaries.npz")["canary"] for d in ("digits", "digits.rep2")]
    assert masks[0].shape == masks[1].shape and (masks[0] != masks[1]).any()
    assert (canaries[0] != canaries[1]).any() and canaries[0].sum() == canaries[1].sum()
    t3 = pd.read_csv(r / "table3.csv", dtype={"replicate": str})
    assert set(t3["control"]) == {"random", "class_matched"} and set(t3["dataset"]) == {"digits"}
    t3 = t3[t3["control"] == "random"]
    assert list(t3["replicate"]) == ["1", "2", "combined"]
    each, combined = t3.iloc[:2], t3.iloc[2]
    expected = across(each["diff_pp"], each["p_value"])
    assert np.isclose(combined["diff_pp"], expected["score"], equal_nan=True)
    assert combined["holds"] == expected["holds"]
    t1 = pd.read_csv(r / "table1.csv", dtype={"replicate": str})
    n_variants = (t1["replicate"] == "1").sum()  # every variant of replicate 1 has its combined row
    assert (t1["replicate"] == "combined").sum() == n_variants == (t1["replicate"] == "2").sum()
    # both replicates' de-duplicated rows drop replicate 1's duplicates: the same test subset
    assert t1.loc[t1["variant"] == "dedup", "n_test"].nunique() == 1
    assert not (r / "digits.rep2/data/duplicates.csv").exists()
    overlap = pd.read_csv(r / "replicate_overlap.csv")
    assert overlap.loc[0, "replicates"] == 2 and len(overlap) == 1
    assert (r / "digits/mlp/memorized_replicates.csv").exists()
    assert not (r / "digits.rep2/mlp/loo.csv").exists() and not (r / "digits.rep2/mlp/rate0.5").exists()


def test_a_replicate_reproduces_alone(two, tmp_path):
    """Replicate 2 built by itself, in a fresh folder, gives the same files as in the joint run."""
    wd = copy_workflow(tmp_path / "alone", config(2))
    files = ("results/digits.rep2/mlp/memorized.csv", "results/digits.rep2/mlp/utility/all.csv")
    snakemake(wd, *files)
    for f in files:
        assert (wd / f).read_text() == (two / f).read_text(), f
    joint = np.load(two / "results/digits.rep2/mlp/rate0.95/masks.npz")["mask"]
    assert (np.load(wd / "results/digits.rep2/mlp/rate0.95/masks.npz")["mask"] == joint).all()


def test_raising_r_to_3_plans_only_replicate_3s_jobs(two):
    from workflow_helpers import write_config

    write_config(two, config(3))
    try:
        jobs = planned_jobs(two, *TARGETS)
    finally:
        write_config(two, config(2))
    assert any(w.get("dataset") == "digits.rep3" for _, w in jobs)
    others = {(rule, w.get("dataset")) for rule, w in jobs if w.get("dataset") != "digits.rep3"}
    assert {rule for rule, _ in others} <= AGGREGATES, others
    assert not [r for r, w in jobs if r.startswith("members") and w.get("dataset") != "digits.rep3"]
