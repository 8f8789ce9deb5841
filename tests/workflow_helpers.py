"""Run the real workflow on a copy of it in a temporary folder (shared by the workflow tests)."""

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
PARTS = ["Snakefile", "rules", "workflow_scripts", "schemas", "profiles", "report", "envs", "data/cifair"]
# Two jobs of one thread each on the 2 cores, not one 2-thread job (the training rules ask for 2): with
# anything else busy (the SLURM tests beside them in ci/test.sh), a 2-thread torch job stalls at every op's
# barrier; a 32-member digits shard took 34 s on 2 threads and 1.1 s on 1 on a loaded machine.
RUN_OPTIONS = ["--cores", "2", "--max-threads", "1"]
# A test's timeout is a hang guard, never a speed test: its budget fits the project's reference machine,
# where CALIBRATION_LOOPS of a pure-Python loop take CALIBRATION_REF_S; it is scaled by how much slower this
# machine runs that loop now and by LOAD_MARGIN: a correct run on a 3x slower, loaded machine never hits it.
CALIBRATION_LOOPS = 3_000_000
CALIBRATION_REF_S = 0.2
LOAD_MARGIN = 4


@functools.cache
def slowdown() -> float:
    """How many times slower than the reference machine this one runs a fixed loop (at least 1)."""
    t0, s = time.perf_counter(), 0
    for i in range(CALIBRATION_LOOPS):
        s += i * i
    return max(1.0, (time.perf_counter() - t0) / CALIBRATION_REF_S)


def guard(seconds: float) -> float:
    """A hang guard for work that takes well under `seconds` on the reference machine."""
    return seconds * slowdown() * LOAD_MARGIN


def copy_workflow(dest: Path, config: dict | None = None) -> Path:
    """Copy the workflow (not results) to `dest`, with `config` (default: the tiny one) as config.yaml."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
        else:
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest / part)
    write_config(dest, config or tiny_config())
    return dest


def tiny_config() -> dict:
    return yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())


def write_config(dest: Path, config: dict) -> None:
    (dest / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def command(workdir: Path, *args) -> list[str]:
    """The Snakemake command line the helpers run in `workdir`."""
    return [
        SNAKEMAKE,
        *RUN_OPTIONS,
        "--directory",
        str(workdir),
        "--snakefile",
        str(workdir / "Snakefile"),
        *args,
    ]


def snakemake(workdir: Path, *args, timeout=900, check=True, **kw) -> subprocess.CompletedProcess:
    cmd = command(workdir, *args)
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=guard(timeout), **kw)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
        )
    return proc


def planned_jobs(workdir: Path, *targets) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run would execute."""
    out = snakemake(workdir, "-n", *targets).stdout
    jobs, rule = [], None
    for line in out.splitlines():
        m = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):", line.strip())
        if m:
            rule = m.group(1)
            jobs.append((rule, {}))
        m = re.match(r"^\s*wildcards: (.*)$", line)
        if m and rule:
            jobs[-1] = (rule, dict(kv.split("=", 1) for kv in m.group(1).split(", ")))
    return jobs


def start(workdir: Path, *args, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """`snakemake(workdir, *args)` in the background, in a process group of its own (so a test can kill it
    and every job it started at once), its output and errors merged into `stdout` (a pipe: lines of text)."""
    return subprocess.Popen(
        command(workdir, *args),
        cwd=workdir,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL a run started by `start` and all its jobs (as a node failure or kill -9 would); reap it."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
