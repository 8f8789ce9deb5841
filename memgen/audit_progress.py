"""The audit's time estimates: the plan's cost of every job, then the run's own pace once a training job ends.

Each job costs what the plan says it costs: a training job (a shard of members, of utility runs, of
leave-one-out models) its training points × epochs at the timed seconds per point-epoch, spread over the
cores; any job the start-up of a Python process with torch (`job_overhead`). Until a training job has ended,
the time left is the plan's cost of the jobs still to come; from then on that cost is scaled by how fast
the run has gone (elapsed time over the plan's cost of the jobs done, those running counted half). Jobs
Snakemake cannot list yet (the utility runs, known only after the removal checkpoint) count at the plan's
cost from the first line. docs/decisions.md: Audit time estimates.
"""

import re
import subprocess
import sys
import time
from datetime import datetime

TRAINING_RULES = ("members_", "utility_runs", "loo_full", "loo_removed", "proxy_log")
# What the workflow's light jobs number, by scope, beside the training jobs (job tables of the digits audit:
# answer 14, memorized 11; the full study's grows with its ensembles, counted in light_jobs)
LIGHT_JOBS = {"memorized": 11, "answer": 14, "proxy": 6}


def job_overhead() -> float:
    """Seconds a job spends before its work: a Python process that imports torch and pandas, timed here."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, pandas, memgen.workflow"], check=False)
    return time.perf_counter() - t0 + 1.0  # + Snakemake's own second per job (DAG update, provenance)


def light_jobs(config: dict) -> int:
    scope = config.get("scope", "full")
    return LIGHT_JOBS.get(scope, 20 + 10 * len(config["ensembles"]))


def is_training(rule: str) -> bool:
    return rule.startswith(TRAINING_RULES)


def plan_seconds(p: dict, per_point_epoch: float, overhead: float, cores: int) -> float:
    """The whole run's planned wall time: training over the cores, then every job's start-up."""
    jobs = p["member_jobs"] + p["utility_jobs"] + p["loo_jobs"] + p.get("proxy_jobs", 0) + p["light_jobs"]
    return per_point_epoch * p["point_epochs"] / cores + overhead * jobs / min(cores, 2)


class Progress:
    """One line per finished stage (a rule whose jobs are all done) with the time left for the whole run,
    read from Snakemake's own lines: its job table, `[date]` stamps, `rule r:` starts and `Finished jobid`."""

    TABLE_ROW = re.compile(r"^(\w+)\s+(\d+)$")
    FINISHED = re.compile(r"Finished jobid: \d+ \(Rule: (\w+)\)")
    STARTED = re.compile(r"^(?:local)?(?:checkpoint|rule) (\w+):$")
    STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")

    def __init__(self, p: dict | None = None, per_point_epoch=None, overhead=3.0, cores=2, now=None):
        """p: the plan (memgen.audit.plan); per_point_epoch: timed seconds (None: a cluster, no estimate);
        now: the start time (a replayed log's first stamp), else the clock."""
        self.p, self.spe, self.overhead, self.cores = p, per_point_epoch, overhead, cores
        self.replay = now is not None
        self.start = self.now = now if now is not None else time.time()
        self.total, self.done, self.running, self.table = {}, {}, {}, False

    def cost(self, rule: str) -> float:
        """Planned wall seconds of one job of `rule` (training shares the cores)."""
        if self.p is None or self.spe is None:
            return self.overhead
        if not is_training(rule):
            return self.overhead
        per_job = self.p["job_point_epochs"].get(
            "utility" if rule == "utility_runs" else rule.split("_")[0], 0
        )
        return self.spe * per_job / self.cores + self.overhead / min(self.cores, 2)

    def _work(self, counts: dict) -> float:
        return sum(self.cost(r) * c for r, c in counts.items())

    def _unlisted(self) -> dict:
        """Jobs the plan has and Snakemake's table does not list yet (after a checkpoint); none once the rule
        that reads them has run (an empty memorized set trains no utility run)."""
        if (
            self.p
            and self.p["utility_jobs"]
            and "utility_runs" not in self.total
            and "utility" not in self.done
        ):
            return {"utility_runs": self.p["utility_jobs"]}
        return {}

    def left(self) -> float | None:
        if self.p is None or self.spe is None:
            return None
        todo = {r: c - self.done.get(r, 0) for r, c in self.total.items()}
        running = {r: c / 2 for r, c in self.running.items()}
        left = self._work(todo) + self._work(self._unlisted()) - self._work(running)
        if any(is_training(r) for r in self.done):  # the run's own pace, measured on what it has done
            done = self._work(self.done) + self._work(running)
            left *= (self.now - self.start) / done if done > 0 else 1.0
        return max(0.0, left)

    def feed(self, line: str) -> str | None:
        text = line.strip()
        if (stamp := self.STAMP.match(text)) and self.replay:
            self.now = datetime.strptime(stamp.group(1), "%a %b %d %H:%M:%S %Y").timestamp()
        elif not self.replay:
            self.now = time.time()
        if text.startswith("Job stats"):
            self.table, self.total = True, {}
        elif self.table and text.startswith("total"):
            self.table = False
        elif self.table and (row := self.TABLE_ROW.match(text)) and row.group(1) != "all":
            self.total[row.group(1)] = int(row.group(2))  # the target rule `all` is not a stage
        if start := self.STARTED.match(text):
            rule = start.group(1)
            if rule not in self.total:  # a job the table could not list: the plan's count joins it
                self.total.update({r: c for r, c in self._unlisted().items() if r == rule})
            if rule in self.total:
                self.running[rule] = self.running.get(rule, 0) + 1
        m = self.FINISHED.search(text)
        if not m or m.group(1) not in self.total:  # the target rule `all`
            return None
        rule = m.group(1)
        self.done[rule] = self.done.get(rule, 0) + 1
        self.running[rule] = max(0, self.running.get(rule, 0) - 1)
        return self._line(rule) if self.done[rule] == self.total.get(rule) else None

    def _line(self, rule: str) -> str:
        elapsed = self.now - self.start
        stages = sum(1 for r, c in self.total.items() if self.done.get(r) == c)
        left = self.left()
        rest = "" if left is None else f", about {minutes(left)} left"
        done = f"({stages} of {len(self.total)}), {minutes(elapsed)} elapsed"
        return f"memgen audit: stage {rule} done {done}{rest}"


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
