"""Shared fixtures: the repository root, and one rule for missing prerequisites.

A test that cannot run here (no SLURM cluster, workflow files not written yet) skips with the
reason on a developer's machine, but fails under CI=true: in CI a missing prerequisite is a broken
setup, and a skipped test must not read as a passed one.
"""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# One torch thread per test process (and the processes it starts), unless the caller says otherwise: on a
# busy 2-core machine a 2-thread torch process stalls at every op's barrier (tests/workflow_helpers.py)
os.environ.setdefault("OMP_NUM_THREADS", "1")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip the current test with `reason`, or fail it under CI=true."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: failing instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


def pytest_runtest_setup(item: pytest.Item) -> None:
    # workflow and SLURM tests run the Snakefile; until it exists they cannot say anything
    if item.get_closest_marker("workflow") or item.get_closest_marker("slurm"):
        if not (REPO_ROOT / "Snakefile").is_file():
            unavailable(f"no Snakefile in {REPO_ROOT}")


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """One complete run of the tiny study (every rule), shared by the workflow and rerun-matrix tests.
    Tests that edit it restore it before they end."""
    from workflow_helpers import copy_workflow, snakemake

    wd = copy_workflow(tmp_path_factory.mktemp("study"))
    snakemake(wd, "all")
    return wd


@pytest.fixture(scope="session")
def study_report(study):
    """results/report.html of the shared study, built once for the tests that read it."""
    from workflow_helpers import snakemake

    snakemake(study, "--report", "results/report.html")
    return study / "results" / "report.html"
