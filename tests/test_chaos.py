"""Chaos: a study whose whole Snakemake process group is SIGKILLed three times, and resumed each time, ends
byte-identical to an uninterrupted run.

tests/test_resume_kill.py kills one member shard at a chosen point of its training; this kills the run of
the tiny study at three seeded moments anywhere in it (a member shard, a scores job, a checkpoint, a table,
a utility run, or between jobs), resumes it the documented way each time (`snakemake --unlock`, then the
same command with --rerun-incomplete; the memgen run lock of the dead run is taken over by itself) and
compares the tables, every scores.csv and the memorized set with the shared uninterrupted study's.

The moments are defined by progress, not wall time: a run is killed after the k-th `Finished jobid` line
of its output, k drawn (seeded) below the jobs its dry run still plans, then a seeded pause of at most half
a second lets the kill land inside a later job as often as between jobs. A slow machine moves the moments
in time, never in the workflow.
"""

import re
import subprocess
import threading
import time

import numpy as np
import pytest
from workflow_helpers import copy_workflow, guard, kill_group, planned_jobs, snakemake, start

from memgen.verify import check_records

pytestmark = pytest.mark.workflow

SEED = 7
KILLS = 3
ENSEMBLES = ("rate0.5", "rate0.7", "rate0.95", "rate0.5-wd0.008")  # tests/configs/tiny.yaml's
COMPARED = [
    "results/table1.csv",
    "results/table3.csv",
    "results/digits/mlp/memorized.csv",
    *(f"results/digits/mlp/{e}/scores.csv" for e in ENSEMBLES),
]
FINISHED = re.compile(r"^Finished jobid: \d+")


def _run_and_kill(wd, after: int, pause: float) -> bool:
    """Run the study's targets; SIGKILL the whole run `pause` s after its `after`-th finished job. True when
    the kill landed, False when the run ended first (it must then have succeeded)."""
    proc = start(wd, "--rerun-incomplete", *COMPARED, stdout=subprocess.PIPE)
    hang = threading.Timer(guard(600), kill_group, [proc])  # a hang guard, never a speed test
    hang.start()
    try:
        done = 0
        for line in proc.stdout:
            done += bool(FINISHED.match(line))
            if done == after:
                time.sleep(pause)
                alive = proc.poll() is None
                if alive:
                    kill_group(proc)
                return alive
        assert proc.wait() == 0, f"the run failed before the kill after job {after} (exit {proc.returncode})"
        return False
    finally:
        hang.cancel()
        proc.stdout.close()


def test_three_kills_then_resume_give_the_uninterrupted_results(study, tmp_path):
    wd = copy_workflow(tmp_path / "chaos")  # the tiny study, as the `study` fixture ran it
    rng = np.random.default_rng(SEED)
    kills, started = [], time.time()
    for left in range(KILLS, 0, -1):
        snakemake(wd, "--unlock")
        planned = len(planned_jobs(wd, "--rerun-incomplete", *COMPARED))
        # room for the kills still to come: each lands before a share of the jobs planned now
        after = int(rng.integers(1, max(1, (planned - 3) // left) + 1))
        if _run_and_kill(wd, after, float(rng.uniform(0, 0.5))):
            kills.append((after, planned))
    snakemake(wd, "--unlock")
    snakemake(wd, "--rerun-incomplete", *COMPARED)
    print(f"kills after (finished jobs, of planned): {kills}; {time.time() - started:.0f} s in all")
    assert len(kills) == KILLS, kills
    for path in COMPARED:
        assert (wd / path).read_bytes() == (study / path).read_bytes(), f"{path} differs after the kills"
    assert planned_jobs(wd, *COMPARED) == []
    problems, checked = check_records(wd, ["results"])
    assert problems == [] and checked > 100, problems  # no half-written file passes for a finished one
