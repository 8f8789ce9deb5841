"""One Snakemake run at a time per results folder: memgen.runlock on its own, then with real Snakemake runs
(a second run with other targets stops at once naming the first; a dry run is fine; a killed run's lock is
taken over)."""

import json
import os
import signal
import socket
import subprocess
import time

import pytest
from workflow_helpers import SNAKEMAKE, copy_workflow, snakemake, tiny_config

from memgen import runlock
from memgen.errors import MemgenError


def test_second_acquire_names_the_holder_and_the_fix(tmp_path):
    path = runlock.acquire(tmp_path / "results", ["snakemake", "all"])
    info = json.loads(path.read_text())
    assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
    assert info["command"] == "snakemake all" and info["started"]
    with pytest.raises(MemgenError) as e:
        runlock.acquire(tmp_path / "results", ["snakemake", "other"])
    msg = str(e.value)
    assert f"is in use by another Snakemake run: pid {os.getpid()} on {socket.gethostname()}" in msg
    assert "(snakemake all)" in msg and "Fix: wait for it to finish" in msg and f"rm {path}" in msg
    assert f"ps -p {os.getpid()}" in msg
    runlock.release(path)
    assert not path.exists()
    assert not list((tmp_path / "results").iterdir()), "no temporary file left behind"


def test_a_dead_holder_on_this_host_is_taken_over(tmp_path, caplog):
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    path = runlock.lock_path(tmp_path)
    path.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x"}))
    assert runlock.note_if_held(tmp_path) is None
    runlock.acquire(tmp_path, ["snakemake"])
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert "removing the lock of a run that is gone" in caplog.text
    runlock.release(path)


def test_a_reused_pid_is_not_the_holder(tmp_path):
    """The recorded process start time differs from that pid's now: the holder is gone."""
    path = runlock.lock_path(tmp_path)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": "x", "proc_start": "1"}
    path.write_text(json.dumps(info))
    assert runlock.alive(info) is False
    runlock.acquire(tmp_path, ["snakemake"])
    runlock.release(path)


def test_a_holder_on_another_host_or_unreadable_lock_is_left_to_a_person(tmp_path):
    path = runlock.lock_path(tmp_path)
    path.write_text(json.dumps({"pid": 1, "host": "node-elsewhere", "started": "2026-01-01T00:00:00+00:00"}))
    with pytest.raises(MemgenError, match=r"pid 1 on node-elsewhere.*check on node-elsewhere: ps -p 1"):
        runlock.acquire(tmp_path, ["snakemake"])
    assert "is held by pid 1 on node-elsewhere" in runlock.note_if_held(tmp_path)
    path.write_text("garbage")
    with pytest.raises(MemgenError, match=r"an unreadable lock \('garbage'\).*rm "):
        runlock.acquire(tmp_path, ["snakemake"])
    runlock.release(path)  # not ours: stays
    assert path.exists()


def _config():
    cfg = tiny_config()
    cfg["datasets"]["digits"]["archs"] = {"cnn": {}}
    cfg["training"].update(epochs=3000, checkpoint_every=0, batched=False)  # the first run trains a while
    return cfg


LIGHT = ("results/digits/data/index.npz", "results/digits/data/canaries.npz")
LONG = "results/digits/cnn/rate0.5/members/0/0/outputs.npz"  # writes nothing the other run writes
OTHER = "results/digits/cnn/rate0.7/masks.npz"


@pytest.mark.workflow
def test_a_second_run_on_the_same_results_stops_at_once(tmp_path):
    wd = copy_workflow(tmp_path / "wf", _config())
    snakemake(wd, *LIGHT)
    lock = wd / "results" / runlock.LOCK_NAME
    assert not lock.exists(), "a finished run gives the lock back"
    first = subprocess.Popen(
        [SNAKEMAKE, "--cores", "1", LONG],
        cwd=wd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while not lock.exists() and time.time() < deadline and first.poll() is None:
            time.sleep(0.1)
        assert lock.exists(), "the first run never took the lock"
        assert json.loads(lock.read_text())["pid"] == first.pid

        # other targets: Snakemake's own lock lets this run start; memgen's stops it before any job
        t0 = time.monotonic()
        second = snakemake(wd, OTHER, check=False)
        took = time.monotonic() - t0
        err = second.stdout + second.stderr
        assert second.returncode != 0, err[-3000:]
        assert (
            f"results/ is in use by another Snakemake run: pid {first.pid} on {socket.gethostname()}" in err
        )
        assert "Fix: wait for it to finish" in err and "rm results/.memgen-run.lock" in err
        assert not (wd / OTHER).exists()
        print(f"\nsecond run stopped after {took:.1f} s")

        # a dry run meanwhile is fine, and says who holds the results folder
        dry = snakemake(wd, "-n", OTHER)
        assert f"memgen: note: results/.memgen-run.lock is held by pid {first.pid}" in dry.stderr

        # the same target: Snakemake's own lock stops it; memgen's note has already named the holder
        same = snakemake(wd, LONG, check=False)
        assert same.returncode != 0
        assert f"is held by pid {first.pid}" in same.stdout + same.stderr
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the first run dies without giving its lock back
        first.wait()
    assert lock.exists()
    again = snakemake(wd, OTHER)  # the holder is gone: the lock is taken over
    assert "removing the lock of a run that is gone" in again.stdout + again.stderr
    assert (wd / OTHER).exists() and not lock.exists()
