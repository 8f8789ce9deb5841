"""memgen plan's ETA for a study before it runs: point-epochs against a hand count, leave-one-out skipped
above its limit, and every shipped config valid."""

from pathlib import Path

import pytest
import yaml

import memgen.config as mc
from memgen.plan import eta
from memgen.plan.proxy import CURVATURE_EPOCHS_PER_VECTOR
from memgen.plan.replicates import cost

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    mc.validate(yaml.safe_load(path.read_text()))


def test_the_60k_study_counts_what_it_trains():
    config = mc.validate(yaml.safe_load((ROOT / "configs" / "fashion-60k-cpu.yaml").read_text()))
    n = 60_000
    runs = eta.utility_runs(config, "fashion_mnist")
    assert runs == 20 * (6 * 2 + 1)  # 6 removal sets x (memorized, random) + Table 3's class-matched control
    work = eta.study_work(config, "fashion_mnist", "mlp", n, list(config["ensembles"]), runs, loo=True)
    members = 64 * 15_000 + 64 * 30_000 + 64 * 42_000 + 256 * 57_000
    # and the 4 proxy models on every point, with their curvature pass (memgen/plan/proxy.py)
    proxies = 4 * n * (30 + CURVATURE_EPOCHS_PER_VECTOR * 10)
    assert work["point_epochs"] == pytest.approx((members + runs * n) * 30 + proxies)
    assert work["training_jobs"] == (64 * 3 + 256) // 32 + runs // 20 + 1
    assert eta.loo_models(config, n) == 0  # above loo.max_train_points: the rule skips it


def test_leave_one_out_counts_below_its_limit():
    config = mc.validate(yaml.safe_load((ROOT / "config.yaml").read_text()))
    loo = config["loo"]
    assert eta.loo_models(config, 2000) == (1 + 2 * loo["top"] + loo["random"]) * loo["members"]


def test_the_eta_adds_training_over_the_cores_and_job_start_ups():
    config = mc.validate(yaml.safe_load((ROOT / "configs" / "fashion-60k-cpu.yaml").read_text()))
    (row,) = cost(config, 3, "no-logs-here")
    text = eta.format_eta(config, row, 60_000, 1e-5, 3.0, 2)
    first = eta.study_work(config, "fashion_mnist", "mlp", 60_000, list(config["ensembles"]), 260, loo=True)
    minutes = (
        1e-5 * first["point_epochs"] / 2 + 3.0 * (first["training_jobs"] + eta.short_jobs_first(config)) / 2
    ) / 60
    assert f"about {minutes:.0f} min on 2 cores" in text
    assert "leave-one-out skipped" in text and "R = 3: about" in text


def test_a_narrower_scope_plans_only_what_it_trains():
    config = yaml.safe_load((ROOT / "configs" / "fashion-60k-cpu.yaml").read_text())
    config = mc.validate(config | {"scope": "answer", "replicates": 3})
    (row,) = cost(config, 3, "no-logs-here")
    assert (
        row["members"] == {"rate0.95": 256} and row["utility_runs"] == 20 * 3
    )  # memorized, random, class-matched
    text = eta.format_eta(config, row, 60_000, 1e-5, 3.0, 2)
    assert "leave-one-out" not in text  # a narrower scope never trains it
    first = text.splitlines()[1].split(":")[1]
    further = text.splitlines()[2].split(":")[1]
    assert first.split("G")[0] == further.split("G")[0]  # replicate 1 trains what a further one does
    memorized = mc.validate(config | {"scope": "memorized"})
    assert cost(memorized, 2, "no-logs-here")[0]["utility_runs"] == 0
