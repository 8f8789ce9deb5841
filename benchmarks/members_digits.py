"""Seconds per member on digits: a shard trained as one batched (vmapped) computation vs one model at a time.

    .venv/bin/python benchmarks/members_digits.py [--arch mlp] [--members 32] [--epochs 60]
    .venv/bin/python benchmarks/members_digits.py --smoke     # 4 + 2 members, 1 epoch, 1 thread: seconds

Uses the default config's recipe (rate 0.5 subsets, batch 128). Prints one line per mode and the speed-up.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from memgen.config import training, validate
from memgen.data.loaders import load_digits
from memgen.ensemble.batched import train_batched
from memgen.ensemble.common import Job
from memgen.ensemble.masks import balanced_mask
from memgen.ensemble.train import train_sequential
from memgen.recipe import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SMOKE = {"members": 4, "sequential": 2, "epochs": 1, "threads": 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="mlp", choices=["mlp", "cnn"])
    ap.add_argument("--members", type=int, default=32, help="shard size for the batched run")
    ap.add_argument(
        "--sequential", type=int, default=8, help="members trained one at a time (timed, then per member)"
    )
    ap.add_argument("--epochs", type=int, default=None, help="default: the config's")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes {SMOKE}: it runs, the figures mean nothing"
    )
    args = ap.parse_args()
    if args.smoke:  # explicit options still win over the smoke sizes
        ap.set_defaults(**SMOKE)
        args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = validate(yaml.safe_load((REPO / "config.yaml").read_text()))  # from any working directory
    recipe = training(config, "digits", "mlp")
    if args.epochs:
        recipe["epochs"] = args.epochs
    cfg = TrainConfig.from_dict(recipe)
    ds = load_digits()
    mask = balanced_mask(0, args.members, args.members, len(ds.y_train), 0.5)
    job = Job(
        ds.x_train,
        ds.y_train,
        [np.flatnonzero(m) for m in mask],
        list(range(args.members)),
        args.arch,
        10,
        ds.mean,
        ds.std,
    )
    t = time.perf_counter()
    train_batched(job, cfg)
    batched = (time.perf_counter() - t) / args.members
    n = args.sequential
    one = Job(job.x, job.y, job.indices[:n], job.seeds[:n], job.arch, 10, job.mean, job.std)
    t = time.perf_counter()
    train_sequential(one, cfg)
    sequential = (time.perf_counter() - t) / n
    print(
        f"digits {args.arch}, {cfg.epochs} epochs, rate 0.5, batch {cfg.batch_size}, {args.threads} threads"
    )
    print(f"  batched shard of {args.members}: {batched:.3f} s per member")
    print(f"  one at a time ({n} members):  {sequential:.3f} s per member")
    print(f"  speed-up: {sequential / batched:.1f}x")


if __name__ == "__main__":
    main()
