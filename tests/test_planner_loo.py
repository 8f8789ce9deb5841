"""Leave-one-out planning (memgen.plan.loo.loo_plan, `memgen plan --loo-se`): the random points P
for a standard error of each rate's mean |score - LOO score|, the (1 + P) x M models and their device-hours,
each LOO score's own noise over M seed pairs, read from a finished study or from the stated defaults."""

import math

import pandas as pd
import pytest
from scipy import stats

from memgen.cli import main
from memgen.errors import MemgenError
from memgen.plan.loo import LOO_PAIR_SD, LOO_SD_ABS_ERROR, loo_measured, loo_plan


def test_defaults_give_points_models_hours_and_the_loo_noise():
    res = loo_plan(0.02, 1437, 0.95, minutes_per_member=0.5)
    assert LOO_SD_ABS_ERROR == 0.12 and res["points"] == 36  # (0.12 / 0.02)^2
    assert res["models"] == (1 + 36) * 8
    # a LOO model trains on all N points, a member on 0.95 N: 0.5 / 0.95 min each
    assert res["hours"] == pytest.approx(296 * 0.5 / 0.95 / 60)
    assert res["truth_se"] == pytest.approx(LOO_PAIR_SD / math.sqrt(8))
    assert res["truth_half"] == pytest.approx(stats.t.ppf(0.975, 7) * res["truth_se"])
    # more pairs: a smaller se per LOO score, more models for the same P
    more = loo_plan(0.02, 1437, 0.95, loo_members=32)
    assert more["points"] == 36 and more["models"] == 37 * 32 and more["truth_se"] == res["truth_se"] / 2
    assert more["hours"] is None


def _study(root, sds=(0.11, 0.06), se=(0.0, 0.1, 0.05), n_full=8):
    """A finished study's sampling_bias.csv (loo rows, random points) and loo.csv next to its ensemble."""
    arch = root / "results" / "d" / "mlp"
    (arch / "rate0.95").mkdir(parents=True)
    rows = [
        {"ensemble": f"rate{r}", "rate": r, "definition": d, "against": "loo", "points": "random"}
        | {"std_abs_error": sd if d == "frac" else 0.5, "n_points": 64}
        for r, sd in zip((0.5, 0.95), sds, strict=True)
        for d in ("fz", "frac")
    ]
    rows.append(rows[0] | {"points": "top", "std_abs_error": 0.9})  # the top stratum is not a random sample
    pd.DataFrame(rows).to_csv(arch / "sampling_bias.csv", index=False)
    loo = pd.DataFrame({"chosen": "random", "n_full": n_full, "frac_loo_se": list(se), "fz_loo_se": 0.3})
    pd.concat([loo, loo.assign(chosen="top", frac_loo_se=0.9)]).to_csv(arch / "loo.csv", index=False)
    return arch / "rate0.95"


def test_a_finished_study_gives_its_own_spread_and_noise(tmp_path):
    measured = loo_measured(_study(tmp_path), "frac")
    assert measured["errors"] == [("rate0.5", 0.5, 0.11, 64), ("rate0.95", 0.95, 0.06, 64)]
    assert measured["pair_sd"] == pytest.approx((0.0 + 0.1 + 0.05) / 3 * math.sqrt(8))
    res = loo_plan(0.01, 1437, 0.95, measured=measured)
    assert [r[-1] for r in res["per_rate"]] == [121, 36] and res["points"] == 121  # the worst rate decides
    assert res["truth_se"] == pytest.approx(0.05)
    assert loo_measured(tmp_path / "nowhere" / "ens", "frac") == {
        "errors": [],
        "pair_sd": None,
        "sources": [],
    }


def test_the_command_plans_a_loo_truth(tmp_path, capsys):
    ens = _study(tmp_path)
    pd.DataFrame({"canary": 0, "n_in": 244, "n_out": 12, "acc_in": [1.0] * 300, "acc_out": 1.0}).to_csv(
        ens / "scores.csv", index=False
    )
    args = ["plan", "--from", str(ens), "--loo-se", "0.01", "--loo-members", "4", "--minutes-per-member", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "P = 121 random points" in out and "(1 + P) x M = 488 models" in out
    assert f"{488 * 3 / (244 / 256) / 60:.3g} device-hours" in out
    assert "sampling_bias.csv" in out and "t(0.975, 3)" in out
    assert main(["plan", "--n", "1437", "--rate", "0.95", "--loo-se", "0.02"]) == 0
    out = capsys.readouterr().out
    assert "P = 36 random points" in out and "a default" in out and "device-hours" not in out


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"se": 0.0}, "--loo-se"),
        ({"se": 0.001}, "more than the N = 1,437"),
        ({"se": 0.02, "loo_members": 1}, "below 2 seed pairs"),
        ({"se": 0.02, "definition": "lira"}, "not planned"),
        ({"se": 0.02, "minutes_per_member": 0.0}, "minutes"),
    ],
)
def test_bad_loo_requests_fail_with_one_message(kw, match):
    with pytest.raises(MemgenError, match=match):
        loo_plan(n=1437, rate=0.95, **kw)
