"""Every benchmark under benchmarks/ runs end to end with --smoke (tiny sizes, seconds) and prints its
figures, so a changed memgen API breaks a test here rather than a benchmark nobody ran since."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import guard

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

# script -> the figure lines its smoke run must print (regular expressions, each searched in stdout)
FIGURES = {
    "bare_loop.py": [
        r"bare loop, one model at a time \(2\):\s+[\d,]+ samples/s",
        r"memgen, shard of 4:\s+[\d,]+ samples/s",
        r"memgen / bare: [\d.]+x",
    ],
    "audit_folders.py": [r"memgen audit plan: \d+ images", r"audit of digits \(smoke\): \d+ s wall"],
    "proxy_overhead.py": [
        r"training, plain:\s+[\d.]+ s",
        r"training, logging every point:\s+[\d.]+ s",
        r"recording overhead in all:\s+[+-][\d.]+%",
        r"curvature, generic path:\s+[\d.]+ s",
        r"one generic curvature vector costs [\d.]+ training epochs",
    ],
    "dryrun_paper.py": [r"dry run tests/configs/tiny\.yaml all: \d+ jobs, [\d.]+ s wall", r"members\s+\d+"],
    "gpu_members.py": [
        r"\(b\) memgen, 1 member\s+[\d,]+ images/s",
        r"\(c\) memgen, 2 concurrent\s+[\d,]+ images/s",
    ],
    "influence_scale.py": [
        r"influence: K = 64, N = 2,000, N_test = 500: [\d.]+ s, peak [\d.]+ GiB",
        r"planted twins that are their test point's top pair: \d+ of 100",
        r"ImageNet \(planned",
    ],
    "intervals_scale.py": [r"intervals: N = 20,000, K = 64, rate 0\.7: [\d.]+ s, peak", r"planner: K = \d+"],
    "loo_pairing.py": [
        r"unpaired \(fresh order over N - 1\)\s+[\d.]+",
        r"paired \(same batches, point skipped\)\s+[\d.]+",
    ],
    "loo_reference.py": [r"random points \(\d+\), \d+ seed pairs:", r"rate0\.95 half B\s+fz"],
    "loader_throughput.py": [
        r"train: decode \+ RRC, CPU\s+1\s+[\d,]+",
        r"eval: decode \+ centre, CPU\s+1\s+[\d,]+",
    ],
    "members_digits.py": [r"batched shard of 4: [\d.]+ s per member", r"speed-up: [\d.]+x"],
    "numerics.py": [
        r"portable \(memgen's pin\)\s+\w+\s+1 thread\(s\):\s+[\d.]+ s",
        r"native here vs native on an AVX2 machine: same bits: (yes|no)",
        r"portable / native time: [\d.]+x",
    ],
    "threads.py": [
        r"idle\s+two shards of \d+, 1 thread\(s\) each:\s+[\d.]+ s wall",
        r"fastest: idle [12] thread\(s\), loaded [12] thread\(s\)",
    ],
    "scores_scale.py": [r'"scores_stage_seconds": [\d.]+', r"goals \(.*\): time (met|MISSED)"],
    "stream_memory.py": [r"peak PSS of job \+ workers: [\d,]+ MB", r"the member trained its whole epoch"],
}
# dryrun_paper.py starts Snakemake (2-5 s here, ~9 s more where slurm-client has no controller to ask); the
# others take 2-7 s each on 2 shared cores with one torch thread (tests/conftest.py) and stay in the fast tier
# threads.py starts eight processes that each load torch (a minute on a loaded machine)
MARKS = {n: pytest.mark.workflow for n in ("dryrun_paper.py", "audit_folders.py", "threads.py")}


def test_every_benchmark_has_a_smoke_test():
    assert sorted(p.name for p in BENCHMARKS.glob("*.py")) == sorted(FIGURES)


@pytest.mark.parametrize(
    "script", [pytest.param(s, marks=MARKS.get(s, ()), id=s.removesuffix(".py")) for s in sorted(FIGURES)]
)
def test_smoke_run_prints_its_figures(script, tmp_path):
    # from another working directory: a benchmark must find the repository by itself
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=guard(300),
    )
    out = proc.stdout
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out[-3000:]}\n{proc.stderr[-3000:]}"
    for figure in FIGURES[script]:
        assert re.search(figure, out), f"{script} --smoke printed no line matching {figure!r}:\n{out[-3000:]}"
