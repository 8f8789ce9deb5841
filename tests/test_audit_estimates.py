"""The audit's time estimates against a recorded run (memgen/audit_progress.py): from the plan line on, every
estimate of the whole run's time stays within 2x of what it took.

tests/data/audit_digits.log is `memgen audit` on the 1,797 digits as 20-px JPEGs (the folder of
benchmarks/audit_folders.py), its stdout as the user saw it, recorded 2026-12-07 on the project's 2-core
machine with other jobs running beside it; tests/data/audit_digits.yaml the config.yaml it wrote. The replay
reads the log's own clock (Snakemake's `[date]` stamps) and its cost model line, so it needs neither the
machine nor the time.
"""

import re
from datetime import datetime
from pathlib import Path

import yaml

from memgen.audit import plan
from memgen.audit_progress import Progress, plan_seconds

DATA = Path(__file__).resolve().parent / "data"
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", re.M)


def _recorded():
    log = (DATA / "audit_digits.log").read_text()
    config = yaml.safe_load((DATA / "audit_digits.yaml").read_text())
    images = re.search(r"memgen audit plan: (\d+) images", log)
    model = re.search(r"cost model: ([\d.]+) us per training point-epoch, ([\d.]+) s per job", log)
    stamps = [datetime.strptime(s, "%a %b %d %H:%M:%S %Y").timestamp() for s in STAMP.findall(log)]
    name = next(iter(config["datasets"]))
    arch = next(iter(config["datasets"][name]["archs"]))
    p = plan(config, name, arch, {"train": int(images.group(1)), "test": 0, "channels": 1}, 0.2)
    return log, p, float(model.group(1)) * 1e-6, float(model.group(2)), stamps


def test_the_plan_line_is_within_2x_of_the_recorded_run():
    _, p, spe, overhead, stamps = _recorded()
    final = stamps[-1] - stamps[0]
    planned = plan_seconds(p, spe, overhead, 2)
    print(f"plan {planned:.0f} s, run {final:.0f} s")
    assert final / 2 <= planned <= 2 * final


def test_every_progress_line_is_within_2x_of_the_recorded_run():
    log, p, spe, overhead, stamps = _recorded()
    final = stamps[-1] - stamps[0]
    progress = Progress(p, spe, overhead, 2, now=stamps[0])
    totals = []
    for line in log.splitlines():
        if progress.feed(line):
            totals.append(progress.now - progress.start + progress.left())
    print("estimated totals (s):", [round(t) for t in totals], "run:", round(final))
    assert len(totals) >= 10  # a line per stage, the utility runs' included
    assert all(final / 2 <= t <= 2 * final for t in totals), (totals, final)


def test_utility_runs_count_before_the_checkpoint_lists_them():
    """Before the removal checkpoint, Snakemake's table has no utility_runs: the plan's count stands in."""
    log, p, spe, overhead, stamps = _recorded()
    progress = Progress(p, spe, overhead, 2, now=stamps[0])
    lines = log.splitlines()
    checkpoint = next(i for i, line in enumerate(lines) if "Updating checkpoint dependencies" in line)
    for line in lines[:checkpoint]:
        progress.feed(line)
    assert "utility_runs" not in progress.total and progress.left() > p["utility_jobs"] * overhead
    for line in lines[checkpoint:]:
        progress.feed(line)
    assert progress.done.get("utility_runs") == progress.total["utility_runs"] == p["utility_jobs"]
