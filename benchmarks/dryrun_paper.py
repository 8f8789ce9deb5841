"""How long Snakemake takes to plan the paper-scale study, and how many jobs it plans.

    .venv/bin/python benchmarks/dryrun_paper.py [--configfile configs/paper.yaml] [--target all] [--scale 10]
    .venv/bin/python benchmarks/dryrun_paper.py --smoke     # the tiny test config: seconds

--scale K multiplies every ensemble's members (and per-dataset member counts) by K, written to
benchmarks/out/scaled.yaml: how planning grows with K (goal: x10 must plan in <= 60 s and <= 2 GiB).

Runs `snakemake <target> -n --configfile <config>` from the repository root, measures its wall time
and peak resident memory (of the Snakemake process tree), and prints one result line and the jobs
per rule from the dry run's "Job stats" table. Jobs behind a checkpoint (the utility runs wait for
the `removal` checkpoint) are not planned before it has run, so the counts are a lower bound.
"""

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SMOKE = {"configfile": "tests/configs/tiny.yaml"}


def job_stats(output: str) -> dict[str, int]:
    """Jobs per rule from Snakemake's dry-run table ("Job stats:", header, dashes, rows, total)."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Job stats:"), None)
    if start is None:
        return {}
    counts = {}
    for line in lines[start + 3 :]:  # skip "Job stats:", "job count", "---- -----"
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def scaled_config(path: Path, scale: int) -> Path:
    import yaml

    cfg = yaml.safe_load(path.read_text())
    for ens in cfg["ensembles"].values():
        ens["members"] *= scale
    for ds in cfg["datasets"].values():
        ds["members"] = {e: k * scale for e, k in ds.get("members", {}).items()}
    out = REPO_ROOT / "benchmarks" / "out" / "scaled.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


def slurm_wait_expected() -> bool:
    # the SLURM executor plugin runs `scontrol show config` (10 s timeout) when it is imported, so
    # with slurm-client installed and no controller answering every Snakemake start waits ~9 s
    if shutil.which("scontrol") is None:
        return False
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return True
    return "UP" not in ping.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="configs/paper.yaml")
    parser.add_argument("--target", default="all")
    parser.add_argument("--scale", type=int, default=1, help="multiply every ensemble's members by this")
    parser.add_argument("--smoke", action="store_true", help=f"plan {SMOKE['configfile']} instead: seconds")
    args = parser.parse_args(argv)
    if args.smoke:  # explicit options still win over the smoke config
        parser.set_defaults(**SMOKE)
        args = parser.parse_args(argv)
    if not (REPO_ROOT / args.configfile).is_file():
        print(f"no {args.configfile} in {REPO_ROOT}", file=sys.stderr)
        return 2
    if args.scale != 1:
        args.configfile = str(scaled_config(REPO_ROOT / args.configfile, args.scale).relative_to(REPO_ROOT))

    # the target goes first: --configfile takes one or more values and would swallow it
    cmd = [sys.executable, "-m", "snakemake", args.target, "-n", "--configfile", args.configfile]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    output = done.stdout + done.stderr
    if done.returncode != 0:
        print(output[-4000:], file=sys.stderr)
        print(f"dry run failed (exit {done.returncode}): {' '.join(cmd[1:])}", file=sys.stderr)
        return done.returncode

    counts = {}
    for rule, n in job_stats(output).items():  # members_<first>: one rule per slice of a mask block
        family = "members" if rule.startswith("members_") else rule
        counts[family] = counts.get(family, 0) + n
    total = counts.pop("total", sum(counts.values()))
    note = " (includes ~9 s SLURM plugin wait: no slurmctld answers)" if slurm_wait_expected() else ""
    print(
        f"dry run {args.configfile} {args.target}: {total} jobs, {wall:.1f} s wall{note}, "
        f"peak RSS {peak_mb:.0f} MB"
    )
    width = max((len(rule) for rule in counts), default=4)
    print(f"{'rule':<{width}}  jobs")
    for rule, n in sorted(counts.items(), key=lambda item: -item[1]):
        print(f"{rule:<{width}}  {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
