"""A member longer than its SLURM job's time limit finishes over several jobs; a requeued job and a job whose
training process is SIGKILLed (a node dying) resume. Real SLURM (the one-node cluster of ci/slurm.sh).

Four runs start at once:
- `timelimit`: a member of about 2 minutes (digits CNN, one core) in jobs of a 1-minute limit; SLURM sends
  SIGTERM at the limit, the member saves and exits 75, Snakemake's `retries` submit it again and it resumes,
  until it is done;
- `requeue`: a shorter member in a 10-minute job, `scontrol requeue`d while it trains (SIGTERM: it saves;
  SLURM restarts the same job after its ~2-minute requeue delay); after the restart its training process is
  killed with SIGKILL (a node dying), and Snakemake's retry resumes from the last periodic state;
- `timelimit-reference`, `requeue-reference`: the same members trained uninterrupted, locally, niced.
Outputs (full logits included) and weights of both SLURM runs must equal their reference bitwise (CPU).
Running them side by side keeps the added CI time near the longest of them, not their sum.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from test_slurm import slurm_cluster  # noqa: F401 (the fixture: a cluster that answers)
from workflow_helpers import SNAKEMAKE, copy_workflow, guard, snakemake, tiny_config

pytestmark = pytest.mark.slurm

MEMBER = "results/digits/cnn/rate0.5/members/0/0"  # shard_size 1: the job trains this member alone
TARGET = f"{MEMBER}/outputs.npz"
RESUME = "results/digits/cnn/rate0.5/members/0/resume-0.pt"
LIGHT = ("results/digits/data/index.npz", "results/digits/data/canaries.npz")
EPOCHS = 7000  # ~2.3 min alone on one core here (~0.02 s an epoch): two jobs at least; printed as `reference`
RQ_EPOCHS = 2000  # ~45 s: the requeue run's member (its own reference); the requeue delay is ~2 min anyway
LIMIT_MIN = 1
# Retries are a cap, not a count: an attempt under load (the workflow tier beside it on 2 cores) trained
# ~1,500 epochs of its ~60 s, so a cap of 6 ran out once with the member 300 epochs short; every attempt
# resumes and makes progress, and the deadline, not the cap, bounds a member that never finishes.
TL_RETRIES = 40
# No warning signal here (the profile's `--signal=TERM@300` is dropped): SLURM checks limits on a ~30 s tick
# and sends the warning at the first check within lead + 30 s of the end (measured: lead 20 -> 10-40 s after
# the start, the kill 60-90 s after it), so on a 1-minute limit any lead halves the work an attempt does and
# doubles the attempts. The SIGTERM at the limit takes the same path through srun and Snakemake as the
# warning (checked on this cluster: TERM@45 reached the training 28 s in, and Snakemake kept running); an
# epoch here is ~0.02 s, well inside KillWait (5 s, ci/slurm.sh).
# a hang guard, not a speed test: the niced local reference run (then 3.5 min alone) passed 900 s once on
# a fresh clone here with the workflow tier beside it, so the budget scales with the machine
# (workflow_helpers.guard)
DEADLINE_S = guard(900)


def _config(epochs: int) -> dict:
    cfg = tiny_config()
    cfg["datasets"]["digits"]["archs"] = {"cnn": {}}
    cfg["shard_size"] = 1
    cfg["full_logits"] = True  # compare the logits themselves, not only the compact outputs
    # periodic states every 250 epochs (~6 s): what the SIGKILLed job resumes from
    cfg["training"].update(epochs=epochs, checkpoint_every=250, batched=False)
    return cfg


def _profile(workdir: Path, runtime_min: int, retries: int) -> None:
    """The SLURM profile as a user of a CPU cluster edits it: no GPU (the two runs share the node, which has
    one fake GPU), one core, little memory, this run's time limit and retries."""
    path = workdir / "profiles" / "slurm" / "config.yaml"
    cfg = yaml.safe_load(path.read_text())
    assert "--signal=TERM@" in cfg["set-resources"]["members"]["slurm_extra"], "the profile lost its signal"
    cfg["set-resources"]["members"] = {"cpus_per_task": 1, "mem_mb": 1000, "runtime": runtime_min}
    cfg["set-threads"] = {"members": 1}  # the reference runs on one thread too: same arithmetic
    cfg["retries"] = retries
    # the plugin deletes the log of a job it sees COMPLETED, unless told to keep it; whether a poll sees that
    # state or the job has left squeue first is timing, and the test reads every job's log
    cfg["slurm-keep-successful-logs"] = True
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def _jobs(workdir: Path) -> list[tuple[str, str]]:
    """(job id, state) of the SLURM jobs whose working directory is `workdir`."""
    out = subprocess.run(
        ["squeue", "-h", "--states=all", "-o", "%i|%T|%Z"], capture_output=True, text=True, timeout=30
    ).stdout
    return [(i, s) for i, s, d in (line.split("|") for line in out.splitlines()) if Path(d) == workdir]


def _training_pids(workdir: Path) -> list[int]:
    """The member's Python processes (Snakemake runs the script from .snakemake/scripts/) in `workdir`."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            if "members.py" in cmd and ".snakemake/scripts" in cmd and (proc / "cwd").resolve() == workdir:
                pids.append(int(proc.name))
        except (OSError, ValueError):  # gone meanwhile, or not a process
            continue
    return pids


def _wait(what: str, cond, deadline: float, procs: dict) -> None:
    while not cond():
        ended = {n: p.returncode for n, p in procs.items() if p.poll() is not None and p.returncode}
        assert not ended, f"a run failed while waiting for {what}: {ended}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def _assert_same_member(work: Path, ref: Path) -> None:
    a, b = np.load(work / TARGET), np.load(ref / TARGET)
    assert sorted(a.files) == sorted(b.files) and any("logits" in k for k in b.files), b.files
    for key in b.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{work.name}: {key}")
    wa = torch.load(work / MEMBER / "checkpoint.pt", weights_only=True)["state_dict"]
    wb = torch.load(ref / MEMBER / "checkpoint.pt", weights_only=True)["state_dict"]
    for name in wb:
        assert torch.equal(wa[name], wb[name]), f"{work.name}: weights {name}"
    assert not (work / RESUME).exists(), "the resume state should be gone once the member is done"


def _run_all(runs: dict, env: dict) -> tuple[dict, dict, dict, float]:
    """Start every run at once: their processes, logs, wall times (filled by _finish), the start time."""
    t0 = time.monotonic()
    procs, logs, walls = {}, {}, {}
    for name, (work, cmd) in runs.items():
        logs[name] = work / "snakemake.log"
        with logs[name].open("w") as out:
            procs[name] = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    return procs, logs, walls, t0


def _finish(procs: dict, walls: dict, t0: float, deadline: float) -> None:
    while len(walls) < len(procs):
        for name, proc in procs.items():
            if name not in walls and proc.poll() is not None:
                walls[name] = time.monotonic() - t0
        assert time.monotonic() < deadline, (
            f"runs still going after {DEADLINE_S:.0f} s: {set(procs) - set(walls)}"
        )
        time.sleep(1)


def _jobs_whose_log_says(work: Path, ids: list[str], text: str) -> list[str]:
    """The SLURM job ids among `ids` whose job log (Snakemake's slurm_logs) contains `text`."""
    return [
        i
        for i in ids
        for slurm_log in work.glob(f".snakemake/slurm_logs/rule_members_0/**/{i}.log")
        if text in slurm_log.read_text()
    ]


def test_long_member_over_time_limits_requeue_and_sigkill(slurm_cluster, tmp_path):  # noqa: F811
    tl = copy_workflow(tmp_path / "timelimit", _config(EPOCHS))
    rq = copy_workflow(tmp_path / "requeue", _config(RQ_EPOCHS))
    refs = {
        w: copy_workflow(tmp_path / f"{w.name}-reference", _config(e))
        for w, e in ((tl, EPOCHS), (rq, RQ_EPOCHS))
    }
    _profile(tl, LIMIT_MIN, retries=TL_RETRIES)
    _profile(rq, 10, retries=2)
    for work in (tl, rq):  # only the member goes through SLURM
        snakemake(work, *LIGHT)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    slurm = [SNAKEMAKE, "--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "5"]
    # the references run at the lowest priority: they fill the CPU the SLURM runs leave while they wait
    local = ["nice", "-n", "19", SNAKEMAKE, "--cores", "1", TARGET]
    runs = {"timelimit": (tl, slurm + [TARGET]), "requeue": (rq, slurm + [TARGET])}
    runs.update({ref.name: (ref, local) for ref in refs.values()})
    deadline = time.monotonic() + DEADLINE_S
    procs, logs, walls, t0 = _run_all(runs, env)
    member_log = rq / "logs/digits/cnn/rate0.5/members/0/0.log"
    try:
        # requeue the 10-minute job once it trains (its first periodic state is on disk)
        _wait("the requeue run to train", lambda: (rq / RESUME).exists(), deadline, procs)
        running = [i for i, state in _jobs(rq) if state == "RUNNING"]
        assert len(running) == 1, _jobs(rq)
        jobid = running[0]
        done = subprocess.run(["scontrol", "requeue", jobid], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        requeued = time.time()
        # SLURM's SIGTERM: the member saves and stops (read before the restart rewrites the log)
        _wait(
            "the requeued job to save",
            lambda: "stopped early (exit 75" in member_log.read_text(),
            deadline,
            procs,
        )
        stopped = member_log.read_text()

        # after SLURM restarts it (~2 min later) and it has saved a state of its own: SIGKILL its training
        def saved_since_restart():
            state = rq / RESUME
            return state.exists() and state.stat().st_mtime > requeued + 5 and _training_pids(rq)

        _wait("the requeued job to resume and save", saved_since_restart, deadline, procs)
        shown = subprocess.run(["scontrol", "show", "job", jobid], capture_output=True, text=True).stdout
        assert re.search(r"Restarts=1\b", shown), shown
        for pid in _training_pids(rq):
            os.kill(pid, signal.SIGKILL)
        _finish(procs, walls, t0, deadline)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    texts = {n: p.read_text() for n, p in logs.items()}
    print(f"\nwall from start: {', '.join(f'{n} {w:.0f} s' for n, w in walls.items())}")
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{texts[name][-5000:]}"

    bench = (refs[tl] / "logs/digits/cnn/rate0.5/members/0/0.benchmark.tsv").read_text().splitlines()
    print(
        f"timelimit-reference: the member trained in {float(bench[1].split()[0]):.0f} s (niced, shared CPU)"
    )
    for name, work in (("timelimit", tl), ("requeue", rq)):
        ids = re.findall(r"submitted with SLURM jobid (\d+)", texts[name])
        stops = _jobs_whose_log_says(work, ids, "stopped early (exit 75")
        # a job whose member was stored a moment before SLURM's limit cancelled it finished its work
        done = _jobs_whose_log_says(work, ids, "rule members_0 done in")
        log = (work / "logs/digits/cnn/rate0.5/members/0/0.log").read_text()
        print(f"{name}: {len(ids)} SLURM jobs, {len(stops)} of their logs show a stop on SIGTERM with a save")
        assert "resumed at epoch" in log, log[-2000:]
        _assert_same_member(work, refs[work])
        if name == "timelimit":
            # How many jobs it takes depends on where SLURM's ~30 s limit check falls (a job runs 60-90 s) and
            # on the CPU the other runs leave; what must hold: the member needed more than one job, and
            # every job but the last stopped on the limit's SIGTERM with a save. A job that stored its member
            # a second before the limit cancelled it (seen once) is a success too: every job stopped with a
            # save or stored the member, and the last one stored it.
            assert len(ids) >= 2 and ids[-1] in done, (ids, stops, done, texts[name][-3000:])
            assert set(stops) | set(done) == set(ids), (ids, stops, done, texts[name][-3000:])
            assert "rule members_0 done in" in log, log[-2000:]
        else:  # one job (requeued in place, the same id), then the retry after the SIGKILL
            assert len(ids) == 2, (ids, texts[name][-3000:])
            assert "SIGTERM received: stopped after epoch" in stopped, stopped[-2000:]
            assert "resumed at epoch" in log and f"resumed at epoch {RQ_EPOCHS}" not in log
