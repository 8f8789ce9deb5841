"""The SLURM profile end to end: `results/table1.csv` of the tiny config through a real SLURM cluster.

Uses a cluster that already answers (`sinfo`); otherwise starts the one-node cluster of ci/slurm.sh
(root with apt-get) and stops it afterwards. Without a cluster the test skips, or fails under CI=true.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import unavailable

pytestmark = pytest.mark.slurm

TINY_CONFIG = Path("tests/configs/tiny.yaml")
# what a copy of the workflow needs to run; memgen itself is imported from the venv
WORKFLOW_PATHS = (
    "Snakefile",
    "config.yaml",
    "rules",
    "workflow_scripts",
    "schemas",
    "envs",
    "data",
    "configs",
    "profiles",
)
GPU_RULES = ("members", "utility_runs")
RUN_TIMEOUT_S = 1800

SBATCH_CALL = re.compile(r"sbatch call: (sbatch .*)")
CALL_RULE = re.compile(r"--comment rule_(\w+?)(?:_wildcards_|\s)")
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_(\w+)/")


def _family(rule: str) -> str:
    """members_<first> (one rule per slice of a mask block) counts as `members`."""
    return "members" if re.fullmatch(r"members_\d+", rule) else rule


def _run(cmd: list[str], timeout: float, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def _cluster_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        return _run(["sinfo", "-h", "-o", "%P"], timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        return False


@pytest.fixture(scope="module")
def slurm_cluster(repo_root: Path):
    """A SLURM cluster that answers; started here (and stopped after) when none does."""
    if _cluster_answers():
        yield
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        unavailable("no SLURM cluster answers (sinfo), and ci/slurm.sh needs root with apt-get to start one")
    script = str(repo_root / "ci" / "slurm.sh")
    steps = ([] if shutil.which("slurmctld") else [("install", 900)]) + [("start", 180)]
    for step, timeout in steps:
        done = _run(["bash", script, step], timeout=timeout)
        if done.returncode != 0:
            _run(["bash", script, "stop"], timeout=60)
            unavailable(f"`bash ci/slurm.sh {step}` failed:\n{(done.stdout + done.stderr)[-2000:]}")
    try:
        yield
    finally:
        _run(["bash", script, "stop"], timeout=60)


def _gpu_type_and_partition() -> tuple[str | None, str]:
    """The GPU type of the cluster's first GPU GRES (gpu:TYPE:N), and its default partition."""
    gres = _run(["sinfo", "-h", "-o", "%G"], timeout=30).stdout.split()
    gpus = [g.split("(")[0] for g in gres if g.startswith("gpu")]
    if not gpus:
        unavailable(f"the SLURM cluster has no GPU GRES (sinfo %G: {gres})")
    parts = gpus[0].split(":")
    gpu_type = parts[1] if len(parts) == 3 else None
    partitions = _run(["sinfo", "-h", "-o", "%P"], timeout=30).stdout.split()
    default = next((p for p in partitions if p.endswith("*")), partitions[0])
    return gpu_type, default.rstrip("*")


def _copy_workflow(repo_root: Path, work: Path) -> None:
    if not (repo_root / TINY_CONFIG).is_file():
        unavailable(f"{TINY_CONFIG} is missing")
    for name in WORKFLOW_PATHS:
        src = repo_root / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy2(src, work / name)
    (work / TINY_CONFIG).parent.mkdir(parents=True)
    shutil.copy2(repo_root / TINY_CONFIG, work / TINY_CONFIG)


def _edit_profile(profile: Path, gpu_type: str | None, partition: str) -> None:
    """Set the values the profile tells users to edit, as a user of this cluster would."""
    cfg = yaml.safe_load(profile.read_text())
    gpu_job = cfg["set-resources"]["members"]
    assert cfg["set-resources"]["utility_runs"] == gpu_job, "utility_runs should reuse the GPU block"
    gpu_job["slurm_partition"] = partition
    if gpu_type:
        gpu_job["gpu_model"] = gpu_type
    cfg["set-resources"]["utility_runs"] = dict(gpu_job)
    profile.write_text(yaml.safe_dump(cfg, sort_keys=False))


def test_table1_through_slurm(slurm_cluster, repo_root: Path, tmp_path: Path):
    work = tmp_path / "wf"
    work.mkdir()
    _copy_workflow(repo_root, work)
    gpu_type, partition = _gpu_type_and_partition()
    _edit_profile(work / "profiles" / "slurm" / "config.yaml", gpu_type, partition)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    snakemake = [sys.executable, "-m", "snakemake", "--configfile", str(TINY_CONFIG)]
    log = work / "snakemake-slurm.log"

    t0 = time.monotonic()
    with log.open("w") as out:
        # --verbose logs each sbatch command line; the short first status check only saves CI time
        cmd = snakemake + [
            "--profile",
            "profiles/slurm",
            "--slurm-init-seconds-before-status-checks",
            "5",
            "--verbose",
            "results/table1.csv",
        ]
        try:
            done = subprocess.run(
                cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"no result after {RUN_TIMEOUT_S} s; end of log:\n{log.read_text()[-4000:]}")
    wall = time.monotonic() - t0
    text = log.read_text()
    assert done.returncode == 0, f"snakemake exited {done.returncode}; end of log:\n{text[-6000:]}"

    calls = [(_family(CALL_RULE.search(c).group(1)), c) for c in SBATCH_CALL.findall(text)]
    jobs = [(j, _family(r)) for j, r in SUBMITTED.findall(text)]  # (slurm job id, rule)
    per_rule = {r: sum(1 for rule, _ in calls if rule == r) for r in sorted({r for r, _ in calls})}
    print(f"\nSLURM run of results/table1.csv: {wall:.0f} s wall, {len(calls)} sbatch calls {per_rule}")

    assert (work / "results" / "table1.csv").stat().st_size > 0
    assert len(calls) == len(jobs) > 0
    for rule in GPU_RULES:
        assert per_rule.get(rule, 0) > 0, f"no {rule} job was submitted: {per_rule}"
    for rule, call in calls:
        if rule in GPU_RULES:
            want = f"--gpus={gpu_type}:1" if gpu_type else "--gpus=1"
            assert want in call.split(), f"{rule} submitted without {want}: {call[:400]}"
            assert f"-p {partition}" in call, f"{rule} not sent to partition {partition}"
            # the profile's warning ahead of the time limit (memgen.preempt), and SLURM's requeue
            assert "--signal=TERM@" in call and "--requeue" in call, f"{rule}: {call[:400]}"
        else:
            assert "--gpus" not in call and "--gres" not in call, f"light rule {rule} asks for a GPU"

    # what SLURM itself recorded for the GPU jobs it still remembers (MinJobAge; ci/slurm.sh: 300 s)
    recorded = {}
    for jobid, rule in jobs:
        if rule in GPU_RULES:
            shown = _run(["scontrol", "-o", "show", "job", jobid], timeout=30)
            if shown.returncode == 0:
                recorded[jobid] = shown.stdout
    assert recorded, "scontrol remembers none of the GPU jobs; is MinJobAge shorter than this run?"
    for jobid, shown in recorded.items():
        assert re.search(r"gres[:/]gpu", shown), f"SLURM job {jobid} holds no GPU: {shown[:600]}"

    # every output is there and up to date: a second look schedules nothing
    again = _run(snakemake + ["-n", "results/table1.csv"], timeout=300, cwd=work, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Nothing to be done" in again.stdout + again.stderr, (again.stdout + again.stderr)[-3000:]
