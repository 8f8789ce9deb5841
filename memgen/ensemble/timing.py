"""How fast this machine trains a recipe: one epoch of a shard of members on random images of a dataset's
shape, timed. The audit's plan line and `memgen plan --replicates` turn it into an ETA."""

import time

import numpy as np
import torch

from memgen.ensemble.train import Job, train
from memgen.recipe import TrainConfig


def seconds_per_point_epoch(
    recipe: dict, arch: str, n: int, shape: tuple, classes: int, shard: int, threads: int = 1
) -> float:
    """Seconds per training point per member-epoch: one epoch of min(8, shard) members, each on all `n`
    random images of `shape` (C, H, W), with `recipe` (batched where the workflow batches)."""
    cfg = TrainConfig.from_dict({**recipe, "epochs": 1, "checkpoint_every": 0})
    k = min(8, shard)
    channels = shape[0]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    y = rng.integers(0, classes, size=n)
    job = Job(
        x,
        y,
        [np.arange(n)] * k,
        list(range(k)),
        arch,
        classes,
        np.full(channels, 0.5),
        np.full(channels, 0.25),
    )
    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # the workflow's training jobs take one thread each (config: threads)
    try:
        t0 = time.perf_counter()
        train(job, cfg, "cpu")
        return (time.perf_counter() - t0) / (k * n)
    finally:
        torch.set_num_threads(before)
