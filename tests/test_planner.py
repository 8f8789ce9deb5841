"""The members planner (memgen.analysis.planner, `memgen plan`): counts, search, errors, the command, and its
answer
held against the default study's measured intervals and stability (a workflow test)."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.planner import counts, load_run, plan, stability, widths
from memgen.cli import main
from memgen.errors import MemgenError


def test_counts_follow_balanced_blocks():
    # round(0.95 * 64) = 61 per block, as memgen.ensemble.masks builds them
    assert counts(256, 0.95, 64) == (244, 12)
    assert counts(64, 0.5, 64) == (32, 32)
    with pytest.raises(MemgenError, match="multiple of the block"):
        counts(100, 0.5, 64)
    with pytest.raises(MemgenError, match="no member would hold it out"):
        counts(64, 0.999, 64)


def test_widths_shrink_with_members_and_the_answer_is_the_smallest_k():
    w = [
        widths(np.full(500, 0.5), np.full(500, 0.5), *counts(k, 0.5, 64))["frac"]["median"] for k in (64, 256)
    ]
    assert w[1] < w[0] / 1.8  # about 1 / sqrt(K)
    res = plan(10_000, 0.5, width=0.4, block_size=64)
    k = res["answer"]["members"]
    assert res["answer"]["frac_width_median"] <= 0.4
    smaller = [r for r in res["rows"] if r["members"] == k - 64 or r["members"] == k // 2]
    assert all(r["frac_width_median"] > 0.4 for r in smaller if r["members"] < k)
    # K also holds each point out min_out times: at rate 0.95 that alone asks for 256 = 12 held out
    assert plan(1437, 0.95, width=1.9, block_size=64, min_out=10)["answer"]["members"] == 256


def test_stability_rises_with_members_and_the_target_is_met():
    rng = np.random.default_rng(0)
    p_in, p_out = np.clip(rng.normal(0.95, 0.05, 800), 0, 1), rng.random(800)
    s = [stability(p_in, p_out, k, 0.5, block_size=64) for k in (64, 512)]
    assert 0 < s[0] < s[1] < 1
    res = plan(800, 0.5, stability_target=0.9, p_in=p_in, p_out=p_out, minutes_per_member=3.0)
    a = res["answer"]
    assert a["stability"] >= 0.9 and a["hours"] == pytest.approx(a["members"] * 3.0 / 60)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"rate": 0.0, "width": 0.3}, "rate"),
        ({"rate": 1.2, "width": 0.3}, "rate"),
        ({"rate": 0.5, "width": 0.0}, "width"),
        ({"rate": 0.5, "width": 2.5}, "width"),
        ({"rate": 0.5, "stability_target": 1.0}, "stability"),
        ({"rate": 0.5}, "exactly one"),
        ({"rate": 0.5, "width": 0.3, "members": 64}, "exactly one"),
        ({"rate": 0.5, "members": 100}, "multiple of the block"),
        ({"rate": 0.5, "width": 0.3, "minutes_per_member": -1.0}, "minutes"),
        ({"rate": 0.5, "width": 0.01, "max_members": 256}, "no K up to 256"),
    ],
)
def test_bad_requests_fail_with_one_message(kw, match):
    with pytest.raises(MemgenError, match=match):
        plan(1000, **kw)


def _fake_run(root, k=64, rate=0.5, n=200, seconds=(3.0, 5.0)):
    ens = root / "results" / "d" / "mlp" / "e"
    ens.mkdir(parents=True)
    n_in = int(k * rate)
    rng = np.random.default_rng(0)
    pd.DataFrame(
        {
            "canary": (np.arange(n) < 10).astype(int),
            "n_in": n_in,
            "n_out": k - n_in,
            "acc_in": rng.binomial(n_in, 0.95, n) / n_in,
            "acc_out": rng.binomial(k - n_in, 0.6, n) / (k - n_in),
        }
    ).to_csv(ens / "scores.csv", index=False)
    for i, s in enumerate(seconds):
        (root / "logs" / "d" / "mlp" / "e" / "members" / "0").mkdir(parents=True, exist_ok=True)
        (root / "logs" / "d" / "mlp" / "e" / "members" / "0" / f"{i * 32}.benchmark.tsv").write_text(
            f"s\th:m:s\tmax_rss\n{s}\t0:00:0{int(s)}\t100\n"
        )
    return ens


def test_a_finished_run_gives_accuracies_and_minutes_per_member(tmp_path):
    run = load_run(_fake_run(tmp_path))
    assert (run["members"], run["rate"], run["n"]) == (64, 0.5, 200)
    assert run["p_in"].size == 190  # natural points only
    assert run["minutes_per_member"] == pytest.approx(8.0 / 64 / 60)
    with pytest.raises(MemgenError, match="does not exist"):
        load_run(tmp_path / "nowhere")


def test_the_command_prints_a_table_and_errors_are_one_line(tmp_path, capsys):
    ens = _fake_run(tmp_path)
    assert main(["plan", "--from", str(ens), "--width", "0.9", "--n", "400"]) == 0
    out = capsys.readouterr().out
    assert "answer: K =" in out and "device-hours" in out and "scaled by N x rate" in out
    assert main(["plan", "--n", "1000", "--rate", "0.5", "--half-width", "0.2", "--definition", "fz"]) == 0
    assert "width <= 0.4" in capsys.readouterr().out
    assert main(["plan", "--n", "1000", "--width", "0.2"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert main(["plan", "--n", "1000", "--rate", "0.5", "--width", "-1"]) == 2
    assert "width -1" in capsys.readouterr().err


# ---- the planner against the default study (config.yaml: digits, mlp) ------------------------------------
# Tolerances: relative, on mean/median widths; absolute, on Spearman rho. Measured on the default study:
# widths within 1 % at K = 64 (rate 0.5), K = 256 and its first 128 members (rate 0.95); stability within
# 0.03 at every analysis.stability_sizes (16-128).
WIDTH_TOL = 0.05
RHO_TOL = 0.05
TARGETS = ["results/digits/mlp/rate0.5/scores.csv", "results/digits/mlp/rate0.95/scores.csv"]


@pytest.fixture(scope="module")
def default_study(tmp_path_factory):
    """The default study's rate-0.5 and rate-0.95 ensembles and stability.csv: a finished default study
    named by MEMGEN_DEFAULT_STUDY (its folder), else those targets alone in a copy of the workflow (320
    members)."""
    import os
    from pathlib import Path

    import yaml
    from workflow_helpers import REPO, copy_workflow, snakemake

    given = os.environ.get("MEMGEN_DEFAULT_STUDY")
    if given:
        return Path(given)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    wd = copy_workflow(tmp_path_factory.mktemp("default_study"), config)
    snakemake(wd, *TARGETS, "results/digits/mlp/stability.csv", timeout=1800)
    return wd


def _measured(table, level=0.95):
    """Mean and median widths of fz and frac over natural points: scores.csv's columns (or from a table)."""
    from memgen.scores.intervals import interval_columns

    nat = table[table["canary"] == 0]
    cols = nat if "frac_lo" in nat else pd.DataFrame(interval_columns({c: nat[c] for c in nat}, level))
    return {
        d: {
            "mean": float((cols[f"{d}_hi"] - cols[f"{d}_lo"]).mean()),
            "median": float((cols[f"{d}_hi"] - cols[f"{d}_lo"]).median()),
        }
        for d in ("fz", "frac")
    }


def _predicted(run, members):
    from memgen.scores.intervals import INTERVAL_DEFINITIONS

    r = plan(run["n"], run["rate"], members=members, p_in=run["p_in"], p_out=run["p_out"], min_out=1)[
        "answer"
    ]
    return {d: {m: r[f"{d}_width_{m}"] for m in ("mean", "median")} for d in INTERVAL_DEFINITIONS}


@pytest.mark.workflow
def test_planned_widths_match_the_default_study(default_study):
    from memgen.io import load_npz
    from memgen.scores.compute import score_table

    rows = []
    for ens, k in (("rate0.5", 64), ("rate0.95", 256)):
        run = load_run(default_study / f"results/digits/mlp/{ens}")
        assert run["members"] == k
        rows.append(
            (
                ens,
                k,
                _predicted(run, k),
                _measured(pd.read_csv(default_study / f"results/digits/mlp/{ens}/scores.csv")),
            )
        )
    # out of sample: the first two mask blocks of rate 0.95 are a balanced 128-member ensemble of their own
    where = default_study / "results/digits/mlp/rate0.95"
    mask = load_npz(where / "masks.npz", ["mask"])["mask"][:128].astype(bool)
    correct = load_npz(where / "correct.npz", ["correct"])["correct"][:128].astype(bool)
    canary = pd.read_csv(where / "scores.csv", usecols=["canary"])["canary"].to_numpy()
    half = score_table(mask, correct, np.zeros(len(canary)), np.zeros(len(canary)), canary)
    rows.append(("rate0.95 members 0-127", 128, _predicted(run, 128), _measured(half)))
    for ens, k, pred, meas in rows:
        for d in ("fz", "frac"):
            for m in ("mean", "median"):
                print(f"{ens} K={k} {d} {m} width: planned {pred[d][m]:.3f}, measured {meas[d][m]:.3f}")
                assert pred[d][m] == pytest.approx(meas[d][m], rel=WIDTH_TOL), (ens, d, m)


@pytest.mark.workflow
def test_planned_stability_matches_the_default_study(default_study):
    from memgen.analysis.jobs import STABILITY_MIN_OUT

    run = load_run(default_study / "results/digits/mlp/rate0.95")
    # stability.csv ranks every point, canaries too (memgen.analysis.stability); the planner ranks natural
    # ones
    every = pd.read_csv(default_study / "results/digits/mlp/rate0.95/scores.csv")
    measured = pd.read_csv(default_study / "results/digits/mlp/stability.csv")
    assert len(measured)
    for _, row in measured.iterrows():
        if row["definition"] not in ("fz", "frac"):
            continue
        # stability.csv's groups are random slices of one ensemble: each point's n_out varies (groups=True)
        pred = stability(every["acc_in"], every["acc_out"], int(row["size"]), run["rate"], row["definition"],
                         STABILITY_MIN_OUT, groups=True)  # fmt: skip
        what = f"{row['definition']} size {row['size']}"
        print(f"{what}: planned rho {pred:.3f}, measured {row['mean_spearman']:.3f}")
        assert pred == pytest.approx(row["mean_spearman"], abs=RHO_TOL), (row["definition"], row["size"])
