"""What both training paths share, so that a member is the same whichever path trains it: the Job, the
learning-rate schedule, each epoch's batch order and augmentation (a function of seed and epoch alone),
input preparation and the seeded initialisation. memgen.ensemble.train (the sequential loop and `train`,
which picks a path) and memgen.ensemble.batched (a shard as one computation) both build on these.
"""

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from memgen.data.stream import FolderImages
from memgen.ensemble.models import build_model
from memgen.recipe import TrainConfig


@dataclass
class Job:
    """What to train: the data (uint8 images, labels) and one index set + seed per model.

    holdout: per model, one dataset index dropped from every batch it would be in (-1: none). A model with
    the same seed and indices but a holdout sees its partner's batches with that one point skipped: the
    pairing of exact leave-one-out (memgen/loo/jobs.py), where a fresh order over N - 1 points would add
    the whole batch-order noise to the pair's difference.
    """

    x: "np.ndarray | FolderImages"  # uint8 [N, C, H, W], or an image folder streamed from disk
    y: np.ndarray  # int64 [N] labels used for training (scoring labels for ensembles)
    indices: list  # per model: int64 training indices
    seeds: list  # per model: int seed (init, batch order, augmentation)
    arch: str
    num_classes: int
    mean: np.ndarray
    std: np.ndarray
    holdout: list | None = None

    def held(self, k: int) -> int:
        return -1 if self.holdout is None else int(self.holdout[k])


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Triangular schedule (paper: peak 0.4 for CIFAR): linear up to the peak, linear down to 0."""
    peak_step = max(1, round(cfg.lr_warmup * total))
    if step < peak_step:
        return cfg.lr_peak * (step + 1) / peak_step
    return cfg.lr_peak * max(0.0, (total - step - 1) / max(1, total - peak_step))


def epoch_plan(seed: int, epoch: int, n: int, cfg: TrainConfig):
    """Order and augmentation of one epoch, from (seed, epoch) alone: a resumed run redraws the same."""
    rng = np.random.default_rng([seed, epoch, 0xE0])
    order = rng.permutation(n)
    shifts = rng.integers(0, 2 * cfg.crop_padding + 1, size=(n, 2))
    flips = rng.random(n) < 0.5 if cfg.flip else np.zeros(n, dtype=bool)
    return order, shifts, flips


def prepare(xb: torch.Tensor, mean, std, shifts=None, flips=None, pad: int = 0) -> torch.Tensor:
    """uint8 [B, C, H, W] -> normalised float, with per-example shifts (random crop) and flips on-device."""
    x = xb.float().div_(255)
    x = (x - mean) / std
    if shifts is not None and pad > 0:
        b, c, h, w = x.shape
        xp = F.pad(x, (pad, pad, pad, pad))
        rows = (shifts[:, 0:1] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (shifts[:, 1:2] + torch.arange(w, device=x.device))[:, None, None, :]
        x = xp[
            torch.arange(b, device=x.device)[:, None, None, None],
            torch.arange(c, device=x.device)[None, :, None, None],
            rows,
            cols,
        ]
    if flips is not None:  # no `flips.any()` shortcut: reading it back would stall the GPU every step
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
    return x


def init_model(job: Job, k: int, cfg: TrainConfig) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(job.seeds[k]))
        return build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)


def channel_stats(values, dev: torch.device) -> torch.Tensor:
    """Per-channel mean or std as float32 [1, C, 1, 1] on `dev`, broadcast over a batch by `prepare`."""
    return torch.as_tensor(values, dtype=torch.float32, device=dev)[None, :, None, None]


def fmt_eta(seconds: float) -> str:
    """A progress line's time left, as HH:MM:SS."""
    return time.strftime("%H:%M:%S", time.gmtime(max(0, seconds)))
