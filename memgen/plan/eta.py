"""A study's time before it runs (memgen plan --replicates R): the training point-epochs of its members,
utility runs and leave-one-out models, at the seconds per point-epoch timed on this machine
(memgen.ensemble.timing), over the cores, plus each job's start-up. The same cost model as the audit's plan
line (memgen/audit_progress.py). Torch-free until it times.

Utility runs count the whole training set (a removal set takes at most a few per cent of it), and the short
jobs (scores, thresholds, tables, figures) their start-up only: at N = 60,000 they take minutes
(docs/results/fashion-mnist-60k.md quotes each), so the ETA is a lower bound on those.
"""

import memgen.config as mc
from memgen.plan.proxy import proxy_point_epochs
from memgen.variants import VARIANTS, removal_id, run_conditions

# short jobs of replicate 1 beyond the per-ensemble ones (the index, canaries, duplicates, the ablation's
# sets and tables, influence, figures, summary): the default study's job table has 20 + 10 per ensemble
SHORT_JOBS_BASE, SHORT_JOBS_PER_ENSEMBLE = 20, 10


def loo_models(config: dict, n: int) -> int:
    """Full-size models of the leave-one-out truth: none above loo.max_train_points (the rule skips it)."""
    loo = config["loo"]
    if n > loo["max_train_points"]:
        return 0
    return (1 + 2 * loo["top"] + loo["random"]) * loo["members"]


def study_work(
    config: dict, dataset: str, arch: str, n: int, ensembles: list[str], runs: int, loo: bool
) -> dict:
    """Point-epochs and training jobs of the given ensembles, `runs` utility runs and (loo: the full study's
    first replicate) the LOO truth and the proxy models."""

    def epochs(ens=None):
        return mc.training(config, dataset, arch, ens)["epochs"]

    member_pe = sum(
        mc.members(config, dataset, e) * round(config["ensembles"][e]["rate"] * n) * epochs(e)
        for e in ensembles
    )
    models = loo_models(config, n) if loo else 0
    proxies = proxy_point_epochs(config["proxies"], n, epochs(mc.reference(config))) if loo else 0
    return {
        "point_epochs": member_pe + (runs + models) * n * epochs() + proxies,
        "training_jobs": sum(mc.members(config, dataset, e) // config["shard_size"] for e in ensembles)
        + -(-runs // config["utility"]["shard_size"])
        + (models // config["loo"]["members"] if models else 0)
        + (1 if loo else 0),
    }


def utility_runs(config: dict, dataset: str) -> int:
    removals = sorted({removal_id(config, v) for v in VARIANTS})
    return sum(len(run_conditions(config, r)) for r in removals) * mc.utility_seeds(config, dataset)


def seconds(work: dict, short_jobs: int, per_point_epoch: float, overhead: float, cores: int) -> float:
    """Wall seconds: training over the cores, then every job's start-up (two at a time at most)."""
    jobs = work["training_jobs"] + short_jobs
    return per_point_epoch * work["point_epochs"] / cores + overhead * jobs / min(cores, 2)


def short_jobs_first(config: dict) -> int:
    return SHORT_JOBS_BASE + SHORT_JOBS_PER_ENSEMBLE * len(config["ensembles"])


def format_eta(config: dict, row: dict, n: int, per_point_epoch: float, overhead: float, cores: int) -> str:
    """The ETA lines of one (dataset, arch) row of memgen.plan.replicates.cost."""
    d, a = row["dataset"], row["arch"]
    full = config.get("scope", "full") == "full"
    # a narrower scope trains, in replicate 1 too, only what a further replicate trains
    first_ens = list(config["ensembles"]) if full else list(row["members"])
    first = study_work(
        config, d, a, n, first_ens, utility_runs(config, d) if full else row["utility_runs"], loo=full
    )
    further = study_work(config, d, a, n, list(row["members"]), row["utility_runs"], loo=False)
    t1 = seconds(
        first, short_jobs_first(config) if full else row["short_jobs"], per_point_epoch, overhead, cores
    )
    t2 = seconds(further, row["short_jobs"], per_point_epoch, overhead, cores)
    loo = (
        ""
        if loo_models(config, n) or not full
        else f"; leave-one-out skipped (N = {n:,} > loo.max_train_points)"
    )
    more = row["replicates"] - 1
    lines = [
        f"  timed here: {per_point_epoch * 1e6:.3f} us per training point-epoch (one epoch of a shard, "
        f"1 thread), {overhead:.1f} s per job start-up; N = {n:,} training points{loo}",
        f"  replicate 1: {first['point_epochs'] / 1e9:.2f} G point-epochs in {first['training_jobs']} "
        f"training jobs: about {t1 / 60:.0f} min on {cores} cores",
    ]
    if more:
        lines.append(
            f"  each further replicate: {further['point_epochs'] / 1e9:.2f} G point-epochs: about "
            f"{t2 / 60:.0f} min; R = {row['replicates']}: about {(t1 + more * t2) / 60:.0f} min in all"
        )
    return "\n".join(lines)
