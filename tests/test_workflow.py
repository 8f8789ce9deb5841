"""The workflow end to end on tests/configs/tiny.yaml: real Snakemake, real training, real files."""

import copy
import json

import pandas as pd
import pytest
from workflow_helpers import copy_workflow, planned_jobs, snakemake, tiny_config, write_config

pytestmark = pytest.mark.workflow


def _members(jobs):
    """(ensemble, block, first slot) of every member job; member rules are members_<first slot>."""
    return {(w["ens"], w["block"], r.split("_")[1]) for r, w in jobs if r.startswith("members_")}


def test_complete_run_writes_every_artifact(study):
    r = study / "results"
    for ens in ("rate0.5", "rate0.7", "rate0.95", "rate0.5-wd0.008"):
        scores = pd.read_csv(r / f"digits/mlp/{ens}/scores.csv")
        assert list(scores.columns) == [
            "index",
            "path",  # "" for digits: no file (docs/artifacts.md)
            "label",
            "true_label",
            "canary",
            "n_in",
            "n_out",
            "acc_in",
            "acc_out",
            "fz",
            "frac",
            "conf",  # continuous definitions
            "lira",
            *(f"{s}_{end}" for s in ("acc_in", "acc_out", "fz", "frac") for end in ("lo", "hi")),
        ]
        assert len(scores) == 1437 and scores["canary"].sum() == 72
        assert (r / f"digits/mlp/{ens}/thresholds.json").exists()
    # the test rule against q on the high-rate ensemble, as thresholds.json records it at threshold.fdr_q
    from memgen.scores.fdr import FDR_COLUMNS

    fdr = pd.read_csv(r / "digits/mlp/rate0.95/fdr.csv")
    test = json.loads((r / "digits/mlp/rate0.95/thresholds.json").read_text())["rules"]["test"]["frac"]
    assert list(fdr.columns) == list(FDR_COLUMNS) and fdr["configured"].sum() == 1
    assert test["n_memorized"] is None or fdr[fdr["configured"]]["n_flagged"].item() == test["n_memorized"]
    for f in ("definitions.csv", "sampling_bias.csv", "stability.csv", "loo.csv"):
        assert len(pd.read_csv(r / "digits/mlp" / f)) > 0
    assert set(pd.read_csv(r / "digits/mlp/sampling_bias.csv")["against"]) == {"reference", "loo"}
    assert len(pd.read_csv(r / "table1.csv")) == 7  # six variants of the paper and the test rule's
    t3 = pd.read_csv(r / "table3.csv")  # one row per control: the paper's uniform one, the class-matched one
    assert t3["control"].tolist() == ["random", "class_matched"]
    classes = pd.read_csv(r / "digits/mlp/table3_classes.csv")
    assert classes["class"].tolist() == list(range(10))  # digits: every class has test points
    # every removal set with memorized points trains memorized and random removal; only Table 3's trains the
    # class-matched control (nothing reads another set's), and its utility table alone has those columns
    from memgen.variants import VARIANTS, removal_id

    trained = {c: {p.parts[-5] for p in (r / "digits/mlp/utility").glob(f"*/{c}/*/*/outputs.npz")}
               for c in ("memorized", "random", "random_class")}  # fmt: skip
    table3 = removal_id(tiny_config(), "all")
    assert trained["random"] == trained["memorized"] and len(trained["memorized"]) > 1
    assert trained["random_class"] == trained["memorized"] & {table3}
    for v in VARIANTS:
        u = pd.read_csv(r / f"digits/mlp/utility/{v}.csv")
        has_class = u["acc_random_class"].notna().any()
        assert has_class == (removal_id(tiny_config(), v) == table3 and u["n_removed"].gt(0).all()), v
    pngs = sorted(p.name for p in (r / "figures").glob("*.png"))
    assert (
        len(pngs) == 15
        and "proxies_digits_mlp.png" in pngs
        and all((r / "figures" / p).stat().st_size > 5000 for p in pngs)
    )
    # influence pairs from members that choose no memorized set: every kept pair names a natural training
    # point, and influence.json records the bar at this size
    from memgen.influence.jobs import INFLUENCE_COLUMNS, read_influence

    influence = read_influence(r / "digits/mlp/influence.csv")
    assert list(influence.columns) == list(INFLUENCE_COLUMNS) and len(influence) > 0
    canary = pd.read_csv(r / "digits/mlp/rate0.95/scores.csv")["canary"].to_numpy().astype(bool)
    assert not canary[influence["train_index"]].any()
    assert len(pd.read_csv(r / "digits/mlp/influence_duplicates.csv")) == 2
    split = pd.read_csv(r / "digits/mlp/table3_split.csv")
    assert set(split["part"]) == {"all", "with_partner", "without_partner", "matched_control"}
    assert split["cross_fitted"].all() and (split["influence_ensemble"] == "rate0.5").all()
    record = json.loads((r / "digits/mlp/influence.json").read_text())
    assert record["ensemble"] == "rate0.5" and record["tested_pairs"] > 0 and "min_flaggable_infl" in record
    summary = (r / "summary.rst").read_text()
    assert "leakage seen two ways" in summary and "the strongest influence pairs" in summary
    assert "- nan" not in summary  # an empty note stays empty
    # the "all fixes" memorized set as a list (the audit): every row a natural point of the high-rate
    # ensemble with score >= τ, as many as thresholds.json counts, with the held-out members' vote
    from memgen.analysis.memorized import COLUMNS, read_memorized

    memorized = read_memorized(r / "digits/mlp/memorized.csv")
    assert list(memorized.columns) == list(COLUMNS)
    t = json.loads((r / "digits/mlp/rate0.95/thresholds.json").read_text())["rules"]["null"]["frac"]
    assert len(memorized) == (t["n_memorized"] or 0)  # None: undefined (members fit no canary)
    high = pd.read_csv(r / "digits/mlp/rate0.95/scores.csv").set_index("index").loc[memorized["index"]]
    assert (high["canary"] == 0).all() and (t["tau"] is None or (high["frac"] >= t["tau"]).all())
    assert memorized["label_name"].eq(memorized["label"].astype(str)).all()  # digits' classes are "0".."9"
    assert ((memorized["predicted_instead_share"] + memorized["acc_out"]) <= 1 + 1e-9).all()
    assert (r / "figures/gallery_digits_mlp.png").stat().st_size > 5000
    ckpt = r / "digits/mlp/rate0.5/members/0/11/checkpoint.pt"  # block 0 (of 16 members), slot 11
    import torch

    from memgen.ensemble.outputs import load_outputs

    state = torch.load(ckpt, weights_only=True)
    assert state["member"] == 11 and state["config"]["epochs"] == 12 and "state_dict" in state
    out = load_outputs(
        r / "digits/mlp/rate0.5/members/0/11/outputs.npz",
        n=1437,
        sets=("train", "test_original"),
        fields=("pred", "margin", "log_odds"),
    )
    assert out["train"]["pred"].shape == (1437,) and out["test_original"]["margin"].shape == (360,)
    size = (r / "digits/mlp/rate0.5/members/0/11/outputs.npz").stat().st_size
    assert size <= 12 * (1437 + 360) + 4096, size  # compact: <= 12 bytes per point (+ npz headers)


def test_complete_run_leaves_nothing_to_do(study):
    out = snakemake(study, "-n", "all").stdout
    assert "Nothing to be done" in out, out[-2000:]


def test_changing_one_ensembles_epochs_reruns_only_that_ensemble(study, tmp_path):
    cfg = tiny_config()
    cfg["ensembles"]["rate0.5"]["training"] = {"epochs": 5}
    write_config(study, cfg)
    try:
        jobs = planned_jobs(study, "all")
    finally:
        write_config(study, tiny_config())
    assert _members(jobs) == {("rate0.5", "0", "0"), ("rate0.5", "0", "8")}, jobs
    assert {w["ens"] for r, w in jobs if r in ("scores", "thresholds")} == {"rate0.5"}
    assert not [r for r, _ in jobs if r in ("canaries", "masks", "utility_runs")], jobs


def test_changing_shard_size_retrains_nothing(study):
    cfg = tiny_config()
    cfg["shard_size"] = 4
    write_config(study, cfg)
    try:
        out = snakemake(study, "-n", "all").stdout
    finally:
        write_config(study, tiny_config())
    assert "Nothing to be done" in out, out[-3000:]


def test_growing_k_trains_only_new_members(study):
    cfg = tiny_config()
    cfg["ensembles"]["rate0.5"]["members"] = 32
    write_config(study, cfg)
    try:
        jobs = planned_jobs(study, "all")
    finally:
        write_config(study, tiny_config())
    assert _members(jobs) == {("rate0.5", "1", "0"), ("rate0.5", "1", "8")}
    assert {w["ens"] for r, w in jobs if r == "masks"} == {"rate0.5"}  # the K x N mask gains block 1


def test_trace_reaches_masks_and_flags_a_changed_outputs_file(study):
    import subprocess
    import sys

    trace = [sys.executable, "-m", "memgen", "trace", "--root", str(study)]
    ok = subprocess.run([*trace, "results/table1.csv"], capture_output=True, text=True, cwd=study)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "masks" in ok.stdout and "canaries.npz" in ok.stdout
    victim = study / "results/digits/mlp/rate0.7/members/0/2/outputs.npz"
    original = victim.read_bytes()
    victim.write_bytes(original + b"\0")
    try:
        bad = subprocess.run([*trace, "results/table1.csv"], capture_output=True, text=True, cwd=study)
    finally:
        victim.write_bytes(original)
    assert bad.returncode == 1
    assert "rate0.7/members/0/2/outputs.npz" in bad.stdout and "CHANGED" in bad.stdout


def test_table1_alone_builds_only_what_it_needs(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    rules = {r for r, _ in planned_jobs(wd, "results/table1.csv")}
    assert "members_0" in rules and "removal" in rules
    assert not any(r.startswith("fig") for r in rules), rules
    assert not rules & {"definitions", "sampling_bias", "stability"}, rules


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda c: c.update(epochz=3), "unknown key ['epochz']"),
        (lambda c: c["ensembles"]["rate0.5"].update(rate=1.5), "ensembles.rate0.5.rate"),
        (
            lambda c: c["ensembles"]["rate0.5"].update(members=24),
            "not a positive multiple of masks.block_size",
        ),
        (lambda c: c.update(shard_size=0), "shard_size"),
        (lambda c: c["datasets"].update(cifar10={"archs": {"resnet18": {}}}), "cifar10 data not found"),
    ],
    ids=["unknown-key", "rate", "block", "shard0", "dataset-missing"],
)
def test_bad_input_gives_one_clear_message(tmp_path, edit, expected):
    cfg = copy.deepcopy(tiny_config())
    edit(cfg)
    wd = copy_workflow(tmp_path / "wf", cfg)
    target = "results/cifar10/data/canaries.npz" if "cifar10" in cfg["datasets"] else "all"
    proc = snakemake(wd, target, check=False, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert expected in text, text[-3000:]
    assert "Fix:" in text or "download" in text
    assert "Traceback" not in text, text[-3000:]
    assert not (wd / "results/cifar10/data/canaries.npz").exists()


def test_html_report_holds_the_figures_and_tables(study_report):
    html = study_report.read_text(errors="replace")
    assert len(html) > 100_000 and "fig5_utility" in html and "table1" in html


def test_truncated_outputs_fail_scores_with_one_message_and_no_table(study):
    """Runs last on the shared study: it breaks one member's outputs, then restores them."""
    victim = study / "results/digits/mlp/rate0.5/members/0/1/outputs.npz"
    scores = study / "results/digits/mlp/rate0.5/scores.csv"
    original = victim.read_bytes()
    victim.write_bytes(original[: len(original) // 2])
    try:
        proc = snakemake(study, str(scores.relative_to(study)), check=False, timeout=300)
        text = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert "outputs.npz is truncated or corrupt" in text and "Fix:" in text, text[-3000:]
        assert not scores.exists(), "a failed scores job must not leave a table behind"
    finally:
        victim.write_bytes(original)
        snakemake(study, str(scores.relative_to(study)))
