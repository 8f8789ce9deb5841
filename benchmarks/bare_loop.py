"""Samples/s of memgen's members vs a bare PyTorch loop training the same MLP recipe, one model at a time.

    .venv/bin/python benchmarks/bare_loop.py [--members 32] [--bare 8] [--train 10000] [--epochs 3]
    .venv/bin/python benchmarks/bare_loop.py --smoke     # random data, 4 + 2 members, 1 epoch: seconds

Both train the default config's recipe (SGD + Nesterov, triangular learning rate, weight decay, batch 128)
on Fashion-MNIST's width, 784 = 28 x 28 x 1: the real images (a stratified subset, memgen.data.idx) when
installed, else random uint8 images of that shape (--data random). Each member gets a rate-0.5 subset of a
balanced mask, as in the workflow.

- bare: torch.nn.Sequential(Linear, ReLU, Linear) and torch.optim.SGD on the images normalised to float
  once per run; a batch is an index into them, then forward, backward, step. Nothing else.
- memgen: memgen.ensemble.train.train, the path a members job takes (on CPU a batched shard), on a shard
  of --members (config.yaml shard_size by default), with its logging, epoch plans and resumable state.
The two alternate --repeats times in this one process (a shared machine's load then touches both) and
the best run of each counts. samples/s = member-samples trained (subset size x epochs, summed) per second.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

from memgen.config import training, validate
from memgen.data.loaders import load_dataset
from memgen.ensemble.batched import can_batch
from memgen.ensemble.common import Job, lr_at
from memgen.ensemble.masks import balanced_mask
from memgen.ensemble.train import train
from memgen.errors import MemgenError
from memgen.recipe import TrainConfig

REPO = Path(__file__).resolve().parents[1]
SMOKE = {"members": 4, "bare": 2, "train": 512, "epochs": 1, "threads": 1, "repeats": 1, "data": "random"}


def images(kind: str, n: int) -> tuple[np.ndarray, np.ndarray, str]:
    """n training images uint8 [n, 1, 28, 28] and labels: Fashion-MNIST's when it is installed."""
    if kind != "random":
        try:
            ds = load_dataset("fashion_mnist", {"kind": "fashion_mnist", "subset": n}, REPO / "data")
            return ds.x_train, ds.y_train, f"Fashion-MNIST (subset of {n})"
        except MemgenError as e:
            if kind == "fashion":
                raise
            print(f"Fashion-MNIST not found ({e}): random images instead")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 1, 28, 28), dtype=np.uint8)
    return x, rng.integers(0, 10, size=n).astype(np.int64), f"random uint8 images ({n})"


def bare_loop(job: Job, cfg: TrainConfig, members: int) -> int:
    """A plain loop, one model after another; returns the member-samples it trained."""
    x = torch.as_tensor(job.x).float().div(255)
    mean = torch.as_tensor(job.mean, dtype=torch.float32)[None, :, None, None]
    std = torch.as_tensor(job.std, dtype=torch.float32)[None, :, None, None]
    x, y = ((x - mean) / std).flatten(1), torch.as_tensor(job.y)
    hidden, B = hidden_width(cfg), cfg.batch_size
    samples = 0
    for k in range(members):
        torch.manual_seed(k)
        model = torch.nn.Sequential(
            torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, job.num_classes)
        )
        opt = torch.optim.SGD(
            model.parameters(), lr=0.0, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay
        )
        idx = torch.as_tensor(job.indices[k])
        spe = -(-len(idx) // B)
        for epoch in range(cfg.epochs):
            order = idx[torch.randperm(len(idx))]
            for s in range(spe):
                sel = order[s * B : (s + 1) * B]
                opt.param_groups[0]["lr"] = lr_at(epoch * spe + s, cfg.epochs * spe, cfg)
                loss = F.cross_entropy(model(x[sel]), y[sel])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        samples += len(idx) * cfg.epochs
    return samples


def memgen_shard(job: Job, cfg: TrainConfig) -> int:
    """The job as a members job trains it (memgen.ensemble.train.train); returns the member-samples."""
    train(job, cfg, "cpu")
    return sum(len(i) for i in job.indices) * cfg.epochs


def hidden_width(cfg: TrainConfig) -> int:
    return (cfg.model or {}).get("hidden", 128)


def samples_per_s(fn, *args) -> float:
    t = time.perf_counter()
    samples = fn(*args)
    return samples / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=None, help="memgen's shard (default: config shard_size)")
    ap.add_argument("--bare", type=int, default=8, help="models the bare loop trains, one at a time")
    ap.add_argument("--train", type=int, default=10000, help="training images (each member gets half)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="runs of each, alternating; the best counts")
    ap.add_argument("--data", default="auto", choices=["auto", "fashion", "random"])
    ap.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes {SMOKE}: it runs, the figures mean nothing"
    )
    args = ap.parse_args()
    if args.smoke:  # explicit options still win over the smoke sizes
        ap.set_defaults(**SMOKE)
        args = ap.parse_args()
    torch.set_num_threads(args.threads)
    config = validate(yaml.safe_load((REPO / "config.yaml").read_text()))  # from any working directory
    K = args.members or int(config["shard_size"])
    n_bare = min(args.bare, K)
    recipe = {**training(config, "digits", "mlp"), "epochs": args.epochs}
    cfg = TrainConfig.from_dict(recipe)
    x, y, what = images(args.data, args.train)
    x01 = x / 255
    subsets = [np.flatnonzero(m) for m in balanced_mask(0, K, K, len(y), 0.5)]
    job = Job(x, y, subsets, list(range(K)), "mlp", 10, x01.mean((0, 2, 3)), x01.std((0, 2, 3)))
    assert can_batch(job, cfg, "cpu"), "memgen would not batch this job"
    # untimed warm-up of both (thread pools, first allocations), which a members job pays once per shard
    warm, one_epoch = Job(x, y, subsets[:2], [0, 1], "mlp", 10, job.mean, job.std), {**recipe, "epochs": 1}
    bare_loop(warm, TrainConfig.from_dict(one_epoch), 1)
    memgen_shard(warm, TrainConfig.from_dict(one_epoch))
    bare, ours = [], []
    for _ in range(args.repeats):
        bare.append(samples_per_s(bare_loop, job, cfg, n_bare))
        ours.append(samples_per_s(memgen_shard, job, cfg))
    print(
        f"{what}: MLP {x[0].size} -> {hidden_width(cfg)} -> 10, {cfg.epochs} epochs, rate 0.5, "
        f"batch {cfg.batch_size}, {args.threads} threads, best of {args.repeats}"
    )
    print(f"  bare loop, one model at a time ({n_bare}): {max(bare):>10,.0f} samples/s")
    print(f"  memgen, shard of {K}:{' ' * (20 - len(str(K) + str(n_bare)))}{max(ours):>10,.0f} samples/s")
    print(f"  memgen / bare: {max(ours) / max(bare):.2f}x")
    print(f"  every run, samples/s: bare {[round(v) for v in bare]}, memgen {[round(v) for v in ours]}")


if __name__ == "__main__":
    main()
