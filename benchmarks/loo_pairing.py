"""Standard error of leave-one-out scores with and without real pairing, on digits with the default recipe.

    .venv/bin/python benchmarks/loo_pairing.py [--points 16] [--seeds 8] [--threads 2]
    .venv/bin/python benchmarks/loo_pairing.py --smoke     # 2 points, 3 seeds, 2 epochs: it runs

Trains M full models on the default study's training labels (its canaries, same seed), then for each of
P natural points M leave-one-out models twice: paired (seed m, the full model's batches with the point
skipped: Job.holdout of memgen.ensemble.common, what the workflow does) and unpaired (seed m, a fresh order
over the N - 1 other points). The P points are the natural points the full models are least sure of
(`--points-from hard`, the default: where leave-one-out has something to measure, like the study's top
stratum) or a seeded random sample (`random`: most of them every model gets right either way, se 0).
Prints the mean jackknife se of fz_loo and frac_loo over the points (for fz the paired t-based se,
sd(full_m - loo_m) / sqrt(M); the root of `<d>_loo_var`, without the floor loo.csv's se has where every pair
agrees), and how many points' pairs disagree at all, for both.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from memgen.config import member_recipe, stable_seed, validate
from memgen.data.canaries import make_canaries
from memgen.data.loaders import load_digits
from memgen.ensemble.outputs import compact
from memgen.ensemble.train import Job, predict, train
from memgen.loo.truth import loo_scores, random_ranking
from memgen.recipe import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SMOKE = {"points": 2, "seeds": 3, "epochs": 2, "threads": 1}


def outputs(job: Job, cfg: TrainConfig, models: list, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """correct and log-odds [M, P] of model (p, m) = models[p * M + m] on its point p."""
    P, M = len(points), len(models) // len(points)
    correct, log_odds = np.zeros((M, P), bool), np.zeros((M, P), np.float32)
    for p, j in enumerate(points):
        for m in range(M):
            logits = predict(job, cfg, models[p * M + m]["state_dict"], job.x[[j]], dtype=np.float32)
            o = compact(torch.as_tensor(logits), job.y[[j]])
            correct[m, p], log_odds[m, p] = o["pred"][0] == job.y[j], o["log_odds"][0]
    return correct, log_odds


def train_loo(ds, labels, cfg, seeds, points, paired: bool) -> list:
    n = len(labels)
    if paired:
        indices, holdout = (
            [np.arange(n)] * (len(points) * len(seeds)),
            [int(j) for j in points for _ in seeds],
        )
    else:
        indices, holdout = [np.delete(np.arange(n), j) for j in points for _ in seeds], None
    job = Job(ds.x_train, labels, indices, seeds * len(points), "mlp", 10, ds.mean, ds.std, holdout)
    return train(job, cfg, "cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=16, help="points of the random sample (P)")
    ap.add_argument("--seeds", type=int, default=8, help="seed pairs (M)")
    ap.add_argument("--points-from", choices=["hard", "random"], default="hard", help="which natural points")
    ap.add_argument("--epochs", type=int, default=None, help="default: the config's")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes {SMOKE}: it runs, the figures mean nothing"
    )
    args = ap.parse_args()
    if args.smoke:
        ap.set_defaults(**SMOKE)
        args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = validate(yaml.safe_load((REPO / "config.yaml").read_text()))
    recipe = member_recipe(config, "digits", "mlp", config["analysis"]["reference"])
    if args.epochs:
        recipe["epochs"] = args.epochs
    cfg = TrainConfig.from_dict(recipe)
    ds = load_digits()
    c = make_canaries(
        ds.y_train, 10, config["canaries"]["fraction"], stable_seed(config, "digits", "canaries")
    )
    labels, natural = c["label"], ~c["canary"]
    seeds = [stable_seed(config, "digits", "mlp", "loo", m) for m in range(args.seeds)]
    t0 = time.time()
    every = [np.arange(len(labels))] * len(seeds)
    full_job = Job(ds.x_train, labels, every, seeds, "mlp", 10, ds.mean, ds.std)
    full = [
        compact(
            torch.as_tensor(predict(full_job, cfg, m["state_dict"], ds.x_train, dtype=np.float32)), labels
        )
        for m in train(full_job, cfg, "cpu")
    ]
    if args.points_from == "hard":  # the natural points whose label the full models are least sure of
        sure = np.mean([f["log_odds"] for f in full], axis=0)
        points = np.flatnonzero(natural)[np.argsort(sure[natural], kind="stable")[: args.points]]
    else:
        points = random_ranking(~natural, 0)[: args.points]
    fc = np.array([f["pred"][points] == labels[points] for f in full])
    fl = np.array([f["log_odds"][points] for f in full])
    print(
        f"digits, {len(points)} {args.points_from} natural points x {len(seeds)} seed pairs, "
        f"{cfg.epochs} epochs"
    )
    print(f"{'LOO models':<38}{'fz_loo se':>10}{'frac_loo se':>12}{'points with any disagreeing pair':>34}")
    for paired in (False, True):
        lc, ll = outputs(full_job, cfg, train_loo(ds, labels, cfg, seeds, points, paired), points)
        s = loo_scores(fc, fl, lc, ll, pool=(1.0, 1.0))
        what = "paired (same batches, point skipped)" if paired else "unpaired (fresh order over N - 1)"
        differ = int((fc != lc).any(0).sum())
        print(
            f"{what:<38}{np.sqrt(s['fz_loo_var']).mean():>10.4f}{np.sqrt(s['frac_loo_var']).mean():>12.4f}"
            f"{differ:>28} of {len(points)}"
        )
    print(f"total {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
