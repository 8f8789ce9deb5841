"""What R replicates cost (memgen plan --replicates R): the members and utility runs each further replicate
trains, and, where a finished study left its benchmark files in logs/, the job time they took in
replicate 1. Torch-free: it reads the config and the logs only.

A further replicate trains only what Tables 1 and 3 and the memorized set need: the ablation's baseline and
high-rate ensembles (and the reference's first members where the duplicate detector needs them), their
removal sets' utility runs; no leave-one-out, no other ensemble, no figure.
"""

from pathlib import Path

import memgen.config as mc
from memgen.plan.study import benchmark_seconds
from memgen.variants import VARIANTS, removal_id, run_conditions, test_set

# Seconds of a short job (scores, thresholds, a utility table...: Python start-up and Snakemake's bookkeeping)
# on 2 cores: R = 5 digits took 185 s per further replicate, 104 s of it in the member and utility jobs timed
# by their benchmark files, 81 s over its 23 short jobs (docs/results/digits-replicates.md)
SHORT_JOB_SECONDS = 3.5


def replicate_ensembles(config: dict, dataset: str) -> list[str]:
    """The score ensembles a further replicate of `dataset` trains (a narrower `scope`: the high-rate one)."""
    full = config.get("scope", "full") == "full"
    ens = {config["ablation"]["high_rate"]} | ({config["ablation"]["baseline"]} if full else set())
    detect = config["datasets"][dataset].get("duplicates", "detect") == "detect"
    if detect and any(test_set(config, dataset, v) == "dedup" for v in VARIANTS):
        ens.add(mc.reference(config))  # the detector reads the reference's first members
    return sorted(ens)


def replicate_removals(config: dict) -> list[str]:
    """The removal sets whose utility runs a replicate trains: every variant's in the full study, Table 3's
    with scope answer, none with scope memorized."""
    scope = config.get("scope", "full")
    if scope == "memorized":
        return []
    if scope == "answer":
        return [removal_id(config, config["ablation"]["table3"])]
    return sorted({removal_id(config, v) for v in VARIANTS})


def cost(config: dict, replicates: int, logs: str | Path = "logs") -> list[dict]:
    """Per (dataset, arch): members and utility runs of replicate 1 and of each further replicate, and the
    job seconds replicate 1 spent on what a further replicate repeats (None without benchmark files)."""
    logs = Path(logs)
    out = []
    for d in mc.primary_datasets(config):
        for a in config["datasets"][d]["archs"]:
            ens = replicate_ensembles(config, d)
            removals = replicate_removals(config)
            # memorized and random removal per set, the class-matched control for Table 3's set only
            conditions = sum(len(run_conditions(config, r)) for r in removals)
            runs = conditions * mc.utility_seeds(config, d)
            member_jobs = sum(mc.members(config, d, e) // config["shard_size"] for e in ens)
            run_jobs = runs // config["utility"]["shard_size"]
            # index, canaries, duplicates, memorized; per ensemble masks, scores, fitcheck, thresholds;
            # per removal set the set; per variant its utility table
            short_jobs = 4 + 4 * len(ens) + len(removals) + len(VARIANTS)
            member_logs = [f for e in ens for f in (logs / d / a / e / "members").glob("*/*.benchmark.tsv")]
            utility_logs = [
                f for r in removals for f in (logs / d / a / "utility" / r).glob("*/*.benchmark.tsv")
            ]
            out.append(
                {
                    "dataset": d,
                    "arch": a,
                    "replicates": replicates,
                    "first_members": sum(mc.members(config, d, e) for e in config["ensembles"]),
                    "scope": config.get("scope", "full"),
                    "members": {e: mc.members(config, d, e) for e in ens},
                    "removal_sets": len(removals),
                    "utility_runs": runs,
                    "seeds": mc.utility_seeds(config, d),
                    "jobs": member_jobs + run_jobs + short_jobs,
                    "short_jobs": short_jobs,
                    "member_seconds": benchmark_seconds(member_logs) if member_logs else None,
                    "utility_seconds": benchmark_seconds(utility_logs) if utility_logs else None,
                }
            )
    return out


def format_cost(rows: list[dict], source: str) -> str:
    lines = []
    for r in rows:
        k, runs, sets = sum(r["members"].values()), r["utility_runs"], r["removal_sets"]
        more = r["replicates"] - 1
        each = ", ".join(f"{e} {m}" for e, m in r["members"].items())
        lines += [
            f"{r['dataset']}/{r['arch']}: replicates R = {r['replicates']} ({source})",
            f"  replicate 1 (the study): {r['first_members']} score members, {runs} utility runs, "
            "leave-one-out and every figure"
            if r["scope"] == "full"
            else f"  replicate 1: what a further replicate trains (scope {r['scope']})",
            f"  each further replicate: {k} score members ({each}) and up to {runs} utility runs ({sets} "
            f"removal sets x 2 conditions + Table 3's class-matched control, x {r['seeds']} seeds; none "
            "for an empty memorized set); "
            "no leave-one-out, no figures",
            f"  R = {r['replicates']}: {more} further replicate(s), {more * k} members and up to "
            f"{more * runs} utility runs more",
        ]
        if r["member_seconds"] is not None and r["utility_seconds"] is not None:
            short = r["short_jobs"] * SHORT_JOB_SECONDS
            per = r["member_seconds"] + r["utility_seconds"] + short
            lines.append(
                f"  measured in replicate 1's logs: {r['member_seconds']:.0f} s of those members' jobs, "
                f"{r['utility_seconds']:.0f} s of utility jobs, ~{short:.0f} s for {r['short_jobs']} short "
                f"jobs ({r['jobs']} jobs in all): ~{per / 60:.1f} min per further replicate, "
                f"~{more * per / 60:.0f} min more for R = {r['replicates']} on these cores (jobs run in turn)"
            )
        else:
            lines.append("  (no benchmark files of a finished study under --logs to time it from)")
    return "\n".join(lines)
