"""Training members and utility runs: `train`, which picks the path; the sequential reference loop,
readable top to bottom; and a trained model's logits (`predict`).

Two ways to run the same recipe (same init, batch order, augmentation and SGD arithmetic per seed; the
pieces both share, `Job` to `init_model`, are memgen.ensemble.common's, imported here for callers too):
- `train_sequential` (here): nn.Modules with torch.optim.SGD, `concurrent_members` at a time (each on its
  own CUDA stream; on CPU they take turns); the CUDA path (data held on the GPU as uint8, augmentation on
  the GPU, bf16 autocast, channels_last, no host synchronisation inside an epoch), the path for BatchNorm
  models, and the reference the other path is tested against.
- `train_batched` (memgen.ensemble.batched): every member of a shard as one computation on CPU, for MLPs.
A test checks that both give each member the same weights (within float tolerance). Both save, resume and
stop on a signal through memgen.ensemble.resume.
"""

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from memgen.data.stream import FolderImages, iter_chunks
from memgen.ensemble.batched import can_batch, train_batched
from memgen.ensemble.common import (
    Job,
    channel_stats,
    epoch_plan,
    fmt_eta,
    init_model,
    lr_at,
    prepare,
    steps_per_epoch,
)
from memgen.ensemble.models import build_model
from memgen.ensemble.point_log import PointLog
from memgen.ensemble.resume import Resume, resume_key
from memgen.recipe import TrainConfig

log = logging.getLogger(__name__)


def train(
    job: Job,
    cfg: TrainConfig,
    device: str = "cpu",
    resume: Path | None = None,
    flags_on_cpu: bool = False,
    stop=None,
    record: PointLog | None = None,
) -> list[dict]:
    """Train every model of the job; returns one {"state_dict"} per model, in job order.

    flags_on_cpu: apply bf16 autocast and channels_last on CPU too (torch supports both there), so that
    tests run the CUDA path's branches without a GPU; it takes the sequential path, which has them.
    stop: a memgen.preempt.StopFlag; once it is set, training saves its resumable state after the epoch
    in progress and raises memgen.preempt.Preempted.
    record: a PointLog (on `device`) that either path fills from its training steps."""
    if can_batch(job, cfg, device, record is not None) and not flags_on_cpu:
        return train_batched(job, cfg, resume, stop, record)
    return train_sequential(job, cfg, device, resume, flags_on_cpu, stop, record)


# ----------------------------------------------------------------------------------------------------
# nn.Modules, one group of concurrent_members after another (CUDA path, BatchNorm models, reference for
# the batched path)
# ----------------------------------------------------------------------------------------------------
@dataclass
class _Device:
    """Where a group trains: the job's data on the device, and the CUDA path's switches."""

    dev: torch.device
    flags: bool  # bf16 and channels_last may act: on CUDA, or on CPU when a test asks (flags_on_cpu)
    bf16: bool
    channels_last: bool
    x: torch.Tensor | None  # uint8 [N, C, H, W] (4x less memory than float); None for a streamed folder
    y: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    @property
    def cuda(self) -> bool:
        return self.dev.type == "cuda"


def _to_device(job: Job, cfg: TrainConfig, device: str, flags_on_cpu: bool) -> _Device:
    """The job's images, labels and normalisation on `device`, with the switches the recipe turns on."""
    dev = torch.device(device)
    flags = dev.type == "cuda" or flags_on_cpu
    if dev.type == "cuda":  # fixed shapes: let cuDNN time its convolution kernels once and keep the fastest
        torch.backends.cudnn.benchmark = True
    x = None if isinstance(job.x, FolderImages) else torch.as_tensor(job.x, device=dev)
    y = torch.as_tensor(job.y, device=dev)
    mean, std = channel_stats(job.mean, dev), channel_stats(job.std, dev)
    return _Device(dev, flags, flags and cfg.bf16, flags and cfg.channels_last, x, y, mean, std)


def _group_size(cfg: TrainConfig) -> int:
    return max(1, int(cfg.concurrent_members))


def _on(stream):
    """Queue work on a member's CUDA stream; without one (CPU, or one member) on the current stream."""
    return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()


def _member_stream(d: _Device, cfg: TrainConfig):
    """A CUDA stream of its own when several members train at once, so the GPU overlaps their steps."""
    if not (d.cuda and _group_size(cfg) > 1):
        return None
    stream = torch.cuda.Stream(d.dev)
    stream.wait_stream(torch.cuda.current_stream(d.dev))  # the data and this model are ready
    return stream


@dataclass
class _Member:
    """One model in flight: its module, optimizer, subset and schedule, and this epoch's plan and sums."""

    k: int  # position in the job
    model: torch.nn.Module
    forward: Callable  # the model, or torch.compile(model) (same parameters)
    opt: torch.optim.Optimizer
    stream: "torch.cuda.Stream | None"  # its own CUDA stream when several train at once, else None
    idx: torch.Tensor  # its training indices, on the device
    spe: int  # steps per epoch
    lrs: list  # learning rate of every step: Python floats, so setting one costs no device work
    start: int  # first epoch to run (> 0 when resumed)
    holdout: int = -1  # a dataset index skipped in every batch (Job.holdout)
    plan: tuple = ()  # this epoch's order, shifts, flips on the device
    feed: object = None  # a streamed folder: this epoch's batches, read ahead by worker processes
    loss_sum: torch.Tensor | None = None  # on the device: read once per epoch, never inside the step loop
    hits: torch.Tensor | None = None
    log: PointLog | None = None  # the job's per-point log, filled from this model's steps

    @classmethod
    def start_model(cls, job: Job, cfg: TrainConfig, d: _Device, k: int, saved: dict | None) -> "_Member":
        """Model k initialised from its seed, or restored from its saved state where it stopped."""
        model = init_model(job, k, cfg).to(d.dev)
        if d.channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(
            model.parameters(),
            lr=0.0,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
        start = 0
        if saved is not None:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["opt"])
            start = saved["epoch"]
            log.info("model %d: resumed at epoch %d", k, start)
        idx = torch.as_tensor(np.asarray(job.indices[k]), device=d.dev)
        spe = steps_per_epoch(len(idx), cfg.batch_size)
        lrs = [lr_at(i, cfg.epochs * spe, cfg) for i in range(cfg.epochs * spe)]
        stream = _member_stream(d, cfg)
        forward = torch.compile(model) if cfg.compile else model
        return cls(k, model, forward, opt, stream, idx, spe, lrs, start, job.held(k))

    def begin_epoch(self, job: Job, cfg: TrainConfig, d: _Device, epoch: int, n_group: int) -> None:
        """Draw this epoch's plan (a streamed folder reads its files in that order) and zero the sums."""
        with _on(self.stream):
            self.model.train()
            plan = epoch_plan(job.seeds[self.k], epoch, len(self.idx), cfg)
            self.plan = tuple(torch.as_tensor(a, device=d.dev) for a in plan)
            if d.x is None:
                order = np.asarray(job.indices[self.k], dtype=np.int64)[plan[0]]
                workers = max(1, job.x.workers // n_group) if job.x.workers else 0
                self.feed = job.x.batches(
                    order, cfg.batch_size, job.seeds[self.k], epoch, cfg.random_resized_crop, d.dev, workers
                )
            self.loss_sum = torch.zeros((), device=d.dev)
            self.hits = torch.zeros((), dtype=torch.int64, device=d.dev)

    def step(self, cfg: TrainConfig, d: _Device, epoch: int, s: int) -> None:
        """Step s of the epoch, queued on the member's stream; nothing here waits for the device."""
        B = cfg.batch_size
        with _on(self.stream):
            order, shifts, flips = self.plan
            sel = order[s * B : (s + 1) * B]
            idx = self.idx[sel]
            raw = next(self.feed) if d.x is None else None
            if self.holdout >= 0:  # dropped, not weighted 0: it must not reach BatchNorm's statistics either
                keep = idx != self.holdout
                sel, idx = sel[keep], idx[keep]
                raw = raw[keep] if raw is not None else None
            flip = flips[sel] if cfg.flip else None
            raw = d.x[idx] if raw is None else raw
            xb = prepare(raw, d.mean, d.std, shifts[sel], flip, cfg.crop_padding)
            if d.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yb = d.y[idx]
            for g in self.opt.param_groups:
                g["lr"] = self.lrs[epoch * self.spe + s]
            with torch.autocast(d.dev.type, dtype=torch.bfloat16, enabled=d.bf16):
                out = self.forward(xb)
                loss = F.cross_entropy(out.float(), yb)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.loss_sum += loss.detach() * len(sel)
            self.hits += (out.argmax(1) == yb).sum()
            if self.log is not None:  # from this step's logits: no extra forward pass
                self.log.add(self.k, epoch, idx, out, yb)

    def resumable(self, done_epochs: int) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "epoch": done_epochs}

    def weights(self) -> dict:
        return {"state_dict": {n: t.detach().cpu().clone() for n, t in self.model.state_dict().items()}}


def _log_members(job: Job, cfg: TrainConfig, group: list, sums: list, dt: float, done_epochs: int) -> None:
    """A line per member of the group after an epoch that took over a second, and after the last."""
    if not (dt > 1.0 or done_epochs == cfg.epochs):
        return
    groups_left = math.ceil((len(job.seeds) - group[-1].k - 1) / _group_size(cfg))
    left = dt * (cfg.epochs - done_epochs) + dt * cfg.epochs * groups_left
    for m, (loss_sum, hits) in zip(group, sums, strict=True):
        log.info(
            "model %d/%d epoch %d/%d | loss %.4f | train acc %.3f | %.2f s/epoch | eta %s",
            m.k + 1,
            len(job.seeds),
            done_epochs,
            cfg.epochs,
            loss_sum / len(m.idx),
            hits / len(m.idx),
            dt,
            fmt_eta(left),
        )


def _start_group(job: Job, cfg: TrainConfig, d: _Device, first: int, in_flight: list, record) -> list:
    """Models first .. first + concurrent_members - 1; those saved in flight continue where they stopped."""
    ks = range(first, min(first + _group_size(cfg), len(job.seeds)))
    group = [
        _Member.start_model(job, cfg, d, k, in_flight[j] if j < len(in_flight) else None)
        for j, k in enumerate(ks)
    ]
    for m in group:
        m.log = record
    return group


def _train_epoch(job: Job, cfg: TrainConfig, d: _Device, group: list[_Member], epoch: int) -> list:
    """One epoch of a group, each member queuing a step in turn; returns each one's [loss sum, hits]."""
    for m in group:
        m.begin_epoch(job, cfg, d, epoch, len(group))
    for s in range(max(m.spe for m in group)):
        for m in group:
            if s < m.spe:  # a smaller subset ends its epoch earlier
                m.step(cfg, d, epoch, s)
    if d.cuda:  # the one wait for the device in an epoch
        torch.cuda.synchronize(d.dev)
    return torch.stack([torch.stack((m.loss_sum, m.hits.float())) for m in group]).cpu().tolist()


def _group_state(results: list, group: list[_Member], record, done_epochs: int) -> dict:
    state = {"done": results, "current": [m.resumable(done_epochs) for m in group]}
    return state | _log_state(record)


def _log_state(record) -> dict:
    return {} if record is None else {"point_log": record.state()}


def train_sequential(
    job: Job,
    cfg: TrainConfig,
    device: str = "cpu",
    resume: Path | None = None,
    flags_on_cpu: bool = False,
    stop=None,
    record: PointLog | None = None,
) -> list[dict]:
    """Models as nn.Modules, concurrent_members at a time: a group starts, trains and resumes together."""
    d = _to_device(job, cfg, device, flags_on_cpu)
    G = _group_size(cfg)
    # a group's resume state holds G models: a state saved with another G (or path) must not be misread
    kind = ("sequential" if G == 1 else f"concurrent{G}") + ("+log" if record else "")
    key = resume_key(job, cfg, kind, "cuda" if d.flags else "cpu")
    saved = Resume(resume, key, cfg, stop)
    results, in_flight = saved.models(len(job.seeds))
    if record is not None and (results or in_flight):
        record.load(saved.load()["point_log"])
    t0 = time.time()
    for first in range(len(results), len(job.seeds), G):
        group = _start_group(job, cfg, d, first, in_flight, record)
        in_flight = []
        for epoch in range(group[0].start, cfg.epochs):
            te = time.time()
            sums = _train_epoch(job, cfg, d, group, epoch)
            where = f"epoch {epoch + 1}/{cfg.epochs} of model {group[0].k + 1}"
            saved.after_epoch(epoch + 1, partial(_group_state, results, group, record), where)
            _log_members(job, cfg, group, sums, time.time() - te, epoch + 1)
        results.extend(m.weights() for m in group)
        saved.after_models(results, len(job.seeds), _log_state(record))
    log.info("trained %d model(s) in %.1f s", len(job.seeds), time.time() - t0)
    return results


# ----------------------------------------------------------------------------------------------------
# a trained model's logits
# ----------------------------------------------------------------------------------------------------
@torch.no_grad()
def predict_chunks(job: Job, cfg: TrainConfig, state_dict: dict, x, device: str = "cpu", chunk: int = 1024):
    """float32 logits [chunk, classes] (CPU) of `x` in eval mode on unaugmented inputs, chunk by chunk in
    order: a caller reducing each chunk (memgen.ensemble.outputs.compact) holds O(chunk) logits, not
    N x classes (ImageNet: 5 GB per member)."""
    dev = torch.device(device)
    model = build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)
    model.load_state_dict(state_dict)
    model.to(dev).eval()
    mean, std = channel_stats(job.mean, dev), channel_stats(job.std, dev)
    if isinstance(x, FolderImages):  # the evaluation transform of the recipe (centre crop after RRC)
        x = x.evaluating(cfg.random_resized_crop)
    for raw in iter_chunks(x, chunk, dev):
        xb = prepare(raw, mean, std)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda" and cfg.bf16):
            yield model(xb).float().cpu()


def predict(
    job: Job,
    cfg: TrainConfig,
    state_dict: dict,
    x,
    device: str = "cpu",
    chunk: int = 1024,
    dtype=np.float16,
):
    """Logits [len(x), classes] of `dtype` (float32 for exact compact outputs; float16 halves full logits)."""
    out = list(predict_chunks(job, cfg, state_dict, x, device, chunk))
    return torch.cat(out).numpy().astype(dtype) if out else np.zeros((0, job.num_classes), dtype)


def device() -> str:
    """cuda when a GPU is visible (SLURM jobs), else cpu; CPU-only machines never touch CUDA."""
    return "cuda" if torch.cuda.is_available() else "cpu"
