"""What a proxy audit costs beside the ensemble's estimate (memgen plan --proxy), per dataset x arch of a
config, in trainings and in full-set epochs (one epoch over all N training points), and in device-hours
from minutes per full-set epoch. Torch-free: it reads the config only.

A proxy audit trains proxies.models models on all N points for the recipe's epochs, then one curvature pass
of proxies.curvature_samples + 1 input gradients per point (memgen/proxies/record.py), counted as
CURVATURE_EPOCHS_PER_VECTOR full-set epochs per vector. The ensemble's estimate trains every score ensemble
(K members at rate r: K r full-set epochs each epoch) and, in the paper's study, the utility runs
(memorized and random removal per removal set, and Table 3's class-matched control), reported apart: a
proxy stands in for the memorization estimate, not for the retraining that asks whether it matters.
"""

import memgen.config as mc
from memgen.variants import VARIANTS, removal_id, run_conditions

# Seconds of one curvature vector's input-gradient pass over N points against one training epoch over N
# points on the generic path every model but memgen's MLP takes (memgen/proxies/record.py), measured by
# benchmarks/proxy_overhead.py (10,000 Fashion-MNIST images, the MLP preset, 1 thread, an idle machine:
# 2.9 s for 10 vectors of 4 models against 11.0 s for their 30 batched epochs). The MLP pays about a third.
CURVATURE_EPOCHS_PER_VECTOR = 0.79
# Training points of the datasets a config names without them on disk (the paper's)
KNOWN_N = {"cifar10": 50_000, "cifar100": 50_000, "imagenet": 1_281_167, "fashion_mnist": 60_000}
# Minutes per full-set epoch on one A100-class GPU with a fast input pipeline: ASSUMED, not measured by
# memgen (its GPU path has not been timed); --minutes-per-epoch replaces them. The proxy's share of the
# ensemble's time does not depend on them.
ASSUMED_MINUTES = {
    ("cifar", "resnet18"): 0.25,
    ("cifar", "resnet50"): 0.6,
    ("cifar", "vgg19_bn"): 0.3,
    ("cifar", "mobilenetv2_100"): 0.3,
    ("imagenet", "resnet18"): 8.0,
    ("imagenet", "resnet50"): 15.0,
    ("imagenet", "vgg19_bn"): 30.0,
    ("imagenet", "mobilenetv2_100"): 10.0,
}


def proxy_point_epochs(spec: dict, n: int, epochs: int) -> float:
    """Training point-epochs a proxy audit costs: its models' training and their curvature pass."""
    return spec["models"] * n * (epochs + CURVATURE_EPOCHS_PER_VECTOR * spec["curvature_samples"])


def _epochs(config: dict, dataset: str, arch: str, ens: str | None = None) -> int:
    return int(mc.training(config, dataset, arch, ens)["epochs"])


def ensemble_cost(config: dict, dataset: str, arch: str) -> dict:
    """Members, utility runs and their full-set epochs in the config's study of (dataset, arch)."""
    members, epochs = 0, 0.0
    for e, spec in config["ensembles"].items():
        k = mc.members(config, dataset, e)
        members += k
        epochs += k * spec["rate"] * _epochs(config, dataset, arch, e)
    scope = config.get("scope", "full")
    removals = (
        sorted({removal_id(config, v) for v in VARIANTS})
        if scope == "full"
        else [removal_id(config, config["ablation"]["table3"])]
        if scope == "answer"
        else []
    )
    runs = sum(len(run_conditions(config, r)) for r in removals) * mc.utility_seeds(config, dataset)
    utility = runs * _epochs(config, dataset, arch)  # a utility run trains on ~N points
    return {"members": members, "full_set_epochs": epochs, "utility_runs": runs, "utility_epochs": utility}


def proxy_cost(config: dict, dataset: str, arch: str) -> dict:
    spec = config["proxies"]
    e = _epochs(config, dataset, arch, mc.reference(config))
    epochs = spec["models"] * (e + CURVATURE_EPOCHS_PER_VECTOR * spec["curvature_samples"])
    return {"models": spec["models"], "full_set_epochs": epochs, "one_model": epochs / spec["models"]}


def minutes_per_epoch(dataset: str, arch: str, given: float | None) -> tuple[float | None, str]:
    if given is not None:
        return given, "given"
    family = (
        "imagenet" if dataset.startswith("imagenet") else "cifar" if dataset.startswith("cifar") else None
    )
    m = ASSUMED_MINUTES.get((family, arch))
    return m, "assumed A100-class" if m is not None else "unknown"


def _hours(epochs: float, minutes: float | None) -> float | None:
    return None if minutes is None else epochs * minutes / 60.0


def plan(config: dict, minutes: float | None = None) -> list[dict]:
    """One row per (dataset, arch): the ensemble's and the proxy audit's trainings, full-set epochs and
    device-hours (None where minutes per epoch are unknown)."""
    rows = []
    for d in mc.primary_datasets(config):
        for a in config["datasets"][d]["archs"]:
            ens, prox = ensemble_cost(config, d, a), proxy_cost(config, d, a)
            m, source = minutes_per_epoch(d, a, minutes)
            rows.append(
                {
                    "dataset": d,
                    "arch": a,
                    "n": KNOWN_N.get(d.split(".")[0]),
                    "ensemble": ens,
                    "proxy": prox,
                    "share": prox["full_set_epochs"] / ens["full_set_epochs"],
                    "minutes_per_epoch": m,
                    "minutes_source": source,
                    "ensemble_hours": _hours(ens["full_set_epochs"], m),
                    "utility_hours": _hours(ens["utility_epochs"], m),
                    "proxy_hours": _hours(prox["full_set_epochs"], m),
                }
            )
    return rows


def format_plan(rows: list[dict], config_path: str) -> str:
    lines = [
        f"proxy audit against the ensemble's estimate ({config_path}); an epoch is one over all N points"
    ]
    for r in rows:
        e, p = r["ensemble"], r["proxy"]
        n = f"N = {r['n']:,}, " if r["n"] else ""
        lines.append(
            f"{r['dataset']}/{r['arch']} ({n}{r['minutes_per_epoch'] or '?'} min per epoch, "
            f"{r['minutes_source']}):"
        )
        hours_e = "" if r["ensemble_hours"] is None else f", {r['ensemble_hours']:,.0f} device-hours"
        hours_u = "" if r["utility_hours"] is None else f", {r['utility_hours']:,.0f} device-hours"
        hours_p = "" if r["proxy_hours"] is None else f", {r['proxy_hours']:,.1f} device-hours"
        lines.append(
            f"  ensemble's estimate: {e['members']:,} members = {e['full_set_epochs']:,.0f} epochs{hours_e}"
        )
        lines.append(
            f"  (and the utility study, which a proxy does not replace: {e['utility_runs']:,} runs = "
            f"{e['utility_epochs']:,.0f} epochs{hours_u})"
        )
        lines.append(
            f"  proxy audit: {p['models']} models + curvature = {p['full_set_epochs']:,.0f} epochs{hours_p}, "
            f"{r['share']:.2%} of the ensemble's (one model: {r['share'] / p['models']:.2%})"
        )
    return "\n".join(lines)
