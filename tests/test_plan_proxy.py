"""memgen plan --proxy (memgen.plan.proxy): a proxy audit's cost beside the ensemble's, by hand."""

import subprocess
import sys

import pytest
import yaml
from workflow_helpers import REPO

import memgen.config as mc
from memgen.plan import proxy


def test_the_proxy_audit_costs_its_models_epochs_and_curvature_against_the_ensembles_k_r_epochs():
    config = mc.validate(yaml.safe_load((REPO / "configs" / "paper.yaml").read_text()))
    rows = {(r["dataset"], r["arch"]): r for r in proxy.plan(config)}
    r = rows[("cifar100", "resnet18")]
    # paper.yaml: 8 ensembles of 64 (rates 0.1..0.7 and two weight decays) + rate0.95 of 512, 100 epochs
    k_r = 64 * (0.1 + 0.2 + 0.3 + 0.4 + 0.5 + 0.7 + 0.7 + 0.7) + 512 * 0.95
    assert r["ensemble"]["members"] == 64 * 8 + 512
    assert r["ensemble"]["full_set_epochs"] == pytest.approx(k_r * 100)
    curvature = proxy.CURVATURE_EPOCHS_PER_VECTOR * config["proxies"]["curvature_samples"]
    assert r["proxy"]["full_set_epochs"] == pytest.approx(4 * (100 + curvature))
    assert r["share"] == pytest.approx(4 * (100 + curvature) / (k_r * 100))
    assert r["proxy_hours"] == pytest.approx(r["proxy"]["full_set_epochs"] * 0.25 / 60)  # the assumed figure
    imagenet = rows[("imagenet", "resnet50")]
    assert imagenet["n"] == 1_281_167 and imagenet["ensemble"]["members"] == 64 * 8 + 256
    given = proxy.plan(config, minutes=2.0)[0]
    assert given["minutes_source"] == "given" and given["proxy_hours"] == pytest.approx(
        given["proxy"]["full_set_epochs"] * 2.0 / 60
    )


def test_the_command_prints_each_pair_and_its_share():
    out = subprocess.run(
        [sys.executable, "-m", "memgen", "plan", "--proxy", "--config", str(REPO / "configs" / "paper.yaml")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "imagenet/resnet50 (N = 1,281,167" in out and "of the ensemble's (one model:" in out
    assert "the utility study, which a proxy does not replace" in out
