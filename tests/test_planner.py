"""The members planner (memgen.plan.study, `memgen plan`): counts, the worst case per definition, the
noise-corrected --from against a known truth, the search (K a multiple of the block), errors, the command,
and its answer held against the default study's measured intervals and stability (a workflow test).
Leave-one-out planning: tests/test_planner_loo.py."""

import numpy as np
import pandas as pd
import pytest

from memgen.cli import main
from memgen.errors import MemgenError
from memgen.plan.study import (
    WORST_P,
    accuracies,
    counts,
    exact_widths,
    load_run,
    plan,
    stability,
    widths,
    worst_case,
)


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
        ({"rate": 0.5, "width": 0.3, "max_members": 10}, "below one block of 64"),
        ({"rate": 0.5, "stability_target": 0.9}, "needs the spread of a run's points"),
    ],
)
def test_bad_requests_fail_with_one_message(kw, match):
    with pytest.raises(MemgenError, match=match):
        plan(1000, **kw)


# ---- the worst case is the definition's own ---------------------------------------------------------------


def test_the_worst_case_is_searched_per_definition():
    n_in, n_out = counts(256, 0.95, 64)
    frac = {p: exact_widths(p, n_in, n_out)["frac"]["mean"] for p in (0.5, 0.2, 0.05)}
    # frac's interval widens as p falls (Eq. 2 divides by a + b): 0.71, 1.19, 1.69 at K = 256, rate 0.95
    assert [round(frac[p], 2) for p in (0.5, 0.2, 0.05)] == [0.71, 1.19, 1.69]
    p_frac, w_frac = worst_case(n_in, n_out, 0.95, "frac", "mean")
    p_fz, w_fz = worst_case(n_in, n_out, 0.95, "fz", "mean")
    assert p_frac == WORST_P[0] == 0.05 and p_fz == 0.5  # fz's Wilson intervals are widest at 0.5
    assert w_frac["frac"]["mean"] == pytest.approx(frac[0.05]) and w_frac["frac"]["mean"] > frac[0.5] + 0.9
    assert all(exact_widths(p, n_in, n_out)["fz"]["mean"] < w_fz["fz"]["mean"] for p in WORST_P if p != 0.5)
    # the plan searches the definition asked: frac's worst case needs more members than fz's
    ask = {"n": 50_000, "rate": 0.5, "width": 0.5}
    a_frac, a_fz = plan(**ask)["answer"], plan(**ask, definition="fz")["answer"]
    assert (a_frac["worst_p"], a_fz["worst_p"]) == (0.05, 0.5)
    assert a_frac["members"] > 10 * a_fz["members"] and a_frac["frac_width_median"] <= 0.5
    # the old worst case, p = 0.5 for every definition, met frac's target at fz's K: too few members
    assert exact_widths(0.05, *counts(a_fz["members"], 0.5, 64))["frac"]["median"] > 1.0


def test_the_worst_case_is_named_in_the_output(capsys):
    assert main(["plan", "--n", "1000", "--rate", "0.5", "--width", "0.6"]) == 0
    out = capsys.readouterr().out
    assert "worst case for frac" in out and "p = 0.05 at the answer" in out
    assert main(["plan", "--n", "1000", "--rate", "0.5", "--width", "0.6", "--definition", "fz"]) == 0
    assert "p = 0.5 at the answer" in capsys.readouterr().out


# ---- --from: the run's binomial noise removed, held against a known truth ----------------------------------


def _truth(kind: str, n: int, rng):
    """True (p_in, p_out) of n points: 'mix' most points learnt and generalised and a quarter partly
    memorised; 'spread' hard points whose held-out accuracy drops by a Beta(1, 4)."""
    if kind == "mix":
        p_in = rng.beta(30, 1, n)
        p_out = np.where(rng.random(n) < 0.25, rng.beta(1.2, 1.2, n) * p_in, rng.beta(40, 1, n))
        return p_in, p_out
    p_in = rng.beta(8, 2, n)
    return p_in, np.clip(p_in - rng.beta(1, 4, n), 0, 1)


@pytest.mark.parametrize("kind", ["mix", "spread"])
def test_planned_stability_matches_a_known_truth(kind):
    # a run like the default study's rate 0.95 (K = 256: 244 members in, 12 out) measures 5,000 known points
    rng = np.random.default_rng(0)
    p_in, p_out = _truth(kind, 5000, rng)
    n_in, n_out = counts(256, 0.95, 64)
    acc_in, acc_out = rng.binomial(n_in, p_in) / n_in, rng.binomial(n_out, p_out) / n_out
    points = accuracies(acc_in, acc_out, n_in, n_out)
    kw = {"rate": 0.95, "definition": "frac", "min_out": 1, "block_size": 64}
    for k in (64, 256):
        true = stability(p_in, p_out, k, **kw)
        planned = stability(*points, k, **kw)
        naive = stability(acc_in, acc_out, k, **kw)  # the measured accuracies read as the true ones
        print(
            f"{kind} K={k}: true rho {true:.3f}, planned {planned:.3f}, from the noisy accuracies {naive:.3f}"
        )
        assert planned == pytest.approx(true, abs=0.03)
        assert naive - true > 0.03  # the noise overstates stability: what the correction removes
    # plan() and the command do the same with the run's member counts
    res = plan(5000, 0.95, members=256, p_in=acc_in, p_out=acc_out, run_n_in=n_in, run_n_out=n_out, min_out=1)
    assert res["answer"]["stability"] == pytest.approx(stability(p_in, p_out, 256, **kw), abs=0.03)
    assert res["settings"]["deconvolved"] and res["settings"]["simulated"] == 5000


# ---- K is a multiple of the block, the search's limit too -------------------------------------------------


def test_every_k_is_a_multiple_of_the_block_up_to_the_limit():
    # fz's median worst-case width is 0.2086 at K = 912 and 0.2034 at 960 (rate 0.5, blocks of 48): a
    # target between them is met only at the limit, max_members 1000 rounded down to 960
    res = plan(10_000, 0.5, width=0.206, definition="fz", block_size=48, max_members=1000)
    assert res["answer"]["members"] == 960
    assert all(r["members"] % 48 == 0 for r in res["rows"])
    res = plan(10_000, 0.5, width=0.5, block_size=48)
    assert all(r["members"] % 48 == 0 for r in res["rows"]) and res["answer"]["frac_width_median"] <= 0.5
    assert [r["members"] for r in res["rows"]] == [720, 1440, 2928, 5856]  # K / 4 and K / 2 rounded down
    below = plan(10_000, 0.5, members=2928 - 48, block_size=48)["answer"]
    assert below["frac_width_median"] > 0.5  # the smallest K: one block fewer falls short


def test_no_k_up_to_the_limit_is_one_message(capsys):
    with pytest.raises(MemgenError, match=r"no K up to 960 members \(a multiple of the block of 48\)") as e:
        plan(10_000, 0.5, width=0.05, block_size=48, max_members=1000)
    assert "K = 960 gives" in str(e.value) and "Fix: give a wider --width" in str(e.value)
    args = ["plan", "--n", "10000", "--rate", "0.5", "--width", "0.05", "--block-size", "48"]
    assert main([*args, "--max-members", "1000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("memgen: error: no K up to 960 members") and "Fix:" in err and "\n" not in err
    assert "Traceback" not in err


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
    assert (run["n_in"] == 32).all() and (run["n_out"] == 32).all()  # the members each accuracy rests on
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

    points = {"p_in": run["p_in"], "p_out": run["p_out"], "run_n_in": run["n_in"], "run_n_out": run["n_out"]}
    r = plan(run["n"], run["rate"], members=members, min_out=1, **points)["answer"]
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
