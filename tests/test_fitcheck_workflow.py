"""A recipe that fits nothing ends the study like one that fits everything: `all` finishes, the fit check
says what is wrong and how to fix it, and the memorized sets are reported undefined in thresholds.json and
in the tables. Real Snakemake on a tiny config."""

import json

import pandas as pd
import pytest
from workflow_helpers import copy_workflow, snakemake, tiny_config

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def unfit(tmp_path_factory):
    cfg = tiny_config()
    cfg["training"] |= {"epochs": 1, "lr_peak": 1e-5}  # members stay at their initialisation
    # the two ensembles the variants need (baseline rate0.7, high rate and reference rate0.95)
    cfg["ensembles"] = {"rate0.7": {"rate": 0.7, "members": 16}, "rate0.95": {"rate": 0.95, "members": 16}}
    wd = copy_workflow(tmp_path_factory.mktemp("unfit"), cfg)
    snakemake(wd, "all")
    return wd


def test_fit_check_fails_with_its_fix(unfit):
    fit = json.loads((unfit / "results/digits/mlp/rate0.95/fit.json").read_text())
    assert fit["ok"] is False and fit["train_acc"]["mean"] < 0.5
    assert any("natural training points" in p for p in fit["problems"])
    assert "raise training.epochs (now 1)" in fit["fix"]
    log = (unfit / "logs/digits/mlp/rate0.95/fitcheck.log").read_text()
    assert "FIT CHECK FAILED" in log and "raise training.epochs" in log


def test_memorized_sets_undefined_in_thresholds_and_tables(unfit):
    r = unfit / "results"
    for ens in ("rate0.7", "rate0.95"):
        t = json.loads((r / f"digits/mlp/{ens}/thresholds.json").read_text())
        assert t["fit"]["ok"] is False and "raise training.epochs" in t["fit"]["fix"]
        for rule, rules in t["rules"].items():
            for definition, entry in rules.items():
                # the test rule has no τ at all (a p-value cut): its record leaves the key out
                assert entry.get("tau") is None and entry["n_memorized"] is None
                if rule == "test" and definition in ("conf", "lira"):
                    continue  # never defined there (it reads counts), whatever the fit: its note says so
                assert entry["note"].startswith("memorized set undefined: members do not fit as expected")
        assert "memorized set undefined" in (unfit / f"logs/digits/mlp/{ens}/thresholds.log").read_text()
    for name in ("table1.csv", "table3.csv"):
        table = pd.read_csv(r / name)
        assert (table["n_removed"] == 0).all()
        assert table["note"].str.contains("memorized set undefined").all(), table["note"].tolist()
    assert not list((r / "digits/mlp/utility").glob("*/*/*/*/outputs.npz"))  # no utility run trained
