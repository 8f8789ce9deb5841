"""Training members and utility runs: one loop, readable top to bottom.

Two ways to run the same recipe (same init, batch order, augmentation and SGD arithmetic per seed):
- `train_sequential`: nn.Modules with torch.optim.SGD, `concurrent_members` at a time (each on its own CUDA
  stream; on CPU they take turns); the CUDA path (data held on the GPU as uint8, augmentation on the GPU,
  bf16 autocast, channels_last, no host synchronisation inside an epoch) and the path for BatchNorm models.
- `train_batched`: every member of a shard as one computation on CPU, for MLPs: forward and backward as
  batched matmuls over the stacked members, the layers' backward written out (the loss head's by autograd),
  SGD in place. A shard of 32 trains 2.4x the samples/s of a bare PyTorch loop training one MLP at a time
  on 2 cores (benchmarks/bare_loop.py, Fashion-MNIST's 784 inputs). Other normalisation-free models can
  take it too, vmapped (torch.func), but vmapped convolutions were slower than a loop (0.7x) and torch.func
  cannot update BatchNorm running statistics, so the workflow loops those.
A test checks that both give each member the same weights (within float tolerance).
"""

import contextlib
import hashlib
import json
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
from torch.func import functional_call, grad_and_value, vmap

from memgen.data.stream import FolderImages, iter_chunks
from memgen.ensemble.models import MLP, build_model, has_batchnorm
from memgen.io import load_checkpoint, save_checkpoint
from memgen.preempt import Preempted
from memgen.recipe import TrainConfig

log = logging.getLogger(__name__)


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


def _fmt_eta(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(max(0, seconds)))


def _channel_stats(values, dev: torch.device) -> torch.Tensor:
    """Per-channel mean or std as float32 [1, C, 1, 1] on `dev`, broadcast over a batch by `prepare`."""
    return torch.as_tensor(values, dtype=torch.float32, device=dev)[None, :, None, None]


# ----------------------------------------------------------------------------------------------------
# resumable state, preemption and progress: the same for both paths
# ----------------------------------------------------------------------------------------------------
def _checkpoint_due(cfg: TrainConfig, resume, done_epochs: int) -> bool:
    """Save resumable state every checkpoint_every epochs; the last epoch writes real outputs instead."""
    return bool(
        cfg.checkpoint_every
        and resume
        and done_epochs % cfg.checkpoint_every == 0
        and done_epochs < cfg.epochs
    )


@dataclass
class _Resume:
    """A job's resumable state: read once at the start, saved every checkpoint_every epochs and when a
    signal asks to stop (memgen.preempt), which then ends training with Preempted."""

    path: Path | None
    key: str  # _resume_key: what a saved state must match to be continued
    cfg: TrainConfig
    stop: object = None  # a memgen.preempt.StopFlag, or None

    def load(self):
        return _load_resume(self.path, self.key)

    def models(self, total: int) -> tuple[list, list]:
        """The sequential path's state: the models already trained, and the saved group in flight."""
        state = self.load() or {"done": [], "current": None}
        results, in_flight = list(state["done"]), state["current"] or []
        if isinstance(in_flight, dict):  # written before groups existed: the one model then in flight
            in_flight = [in_flight]
        if results:
            log.info("resumed: %d of %d model(s) already trained", len(results), total)
        return results, in_flight

    def after_epoch(self, done_epochs: int, state: Callable[[int], dict], where: str) -> None:
        """Save state(done_epochs) when due or when asked to stop, then stop if asked."""
        stopping = bool(self.stop) and done_epochs < self.cfg.epochs  # the last epoch writes outputs instead
        if self.path and (stopping or _checkpoint_due(self.cfg, self.path, done_epochs)):
            _save_resume(self.path, self.key, state(done_epochs))
        if stopping:
            raise _preempted(self.stop, self.path, where)

    def after_models(self, results: list, total: int) -> None:
        """Between groups of the sequential path: the finished models saved, the next group not started."""
        stopping = bool(self.stop) and len(results) < total
        if self.path and (self.cfg.checkpoint_every or stopping):
            _save_resume(self.path, self.key, {"done": results, "current": None})
        if stopping:
            raise _preempted(self.stop, self.path, f"model {len(results)} of {total}")


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
            _fmt_eta(left),
        )


def _log_shard(cfg: TrainConfig, sizes: list, loss_sum, hit_sum, dt: float, done_epochs: int) -> None:
    """A line for the shard every tenth of the epochs, and after the last."""
    if done_epochs % max(1, cfg.epochs // 10) != 0 and done_epochs != cfg.epochs:
        return
    n_tot = torch.tensor(sizes, dtype=torch.float32)
    log.info(
        "shard of %d epoch %d/%d | loss %.4f | train acc %.3f | %.2f s/epoch | eta %s",
        len(sizes),
        done_epochs,
        cfg.epochs,
        (loss_sum / n_tot).mean(),
        (hit_sum / n_tot).mean(),
        dt,
        _fmt_eta(dt * (cfg.epochs - done_epochs)),
    )


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
    mean, std = _channel_stats(job.mean, dev), _channel_stats(job.std, dev)
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

    def resumable(self, done_epochs: int) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "epoch": done_epochs}

    def weights(self) -> dict:
        return {"state_dict": {n: t.detach().cpu().clone() for n, t in self.model.state_dict().items()}}


def _start_group(job: Job, cfg: TrainConfig, d: _Device, first: int, in_flight: list) -> list[_Member]:
    """Models first .. first + concurrent_members - 1; those saved in flight continue where they stopped."""
    ks = range(first, min(first + _group_size(cfg), len(job.seeds)))
    return [
        _Member.start_model(job, cfg, d, k, in_flight[j] if j < len(in_flight) else None)
        for j, k in enumerate(ks)
    ]


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


def _group_state(results: list, group: list[_Member], done_epochs: int) -> dict:
    return {"done": results, "current": [m.resumable(done_epochs) for m in group]}


def train_sequential(
    job: Job,
    cfg: TrainConfig,
    device: str = "cpu",
    resume: Path | None = None,
    flags_on_cpu: bool = False,
    stop=None,
) -> list[dict]:
    """Models as nn.Modules, concurrent_members at a time: a group starts, trains and resumes together."""
    d = _to_device(job, cfg, device, flags_on_cpu)
    G = _group_size(cfg)
    # a group's resume state holds G models: a state saved with another G (or path) must not be misread
    key = _resume_key(job, cfg, "sequential" if G == 1 else f"concurrent{G}", "cuda" if d.flags else "cpu")
    saved = _Resume(resume, key, cfg, stop)
    results, in_flight = saved.models(len(job.seeds))
    t0 = time.time()
    for first in range(len(results), len(job.seeds), G):
        group = _start_group(job, cfg, d, first, in_flight)
        in_flight = []
        for epoch in range(group[0].start, cfg.epochs):
            te = time.time()
            sums = _train_epoch(job, cfg, d, group, epoch)
            where = f"epoch {epoch + 1}/{cfg.epochs} of model {group[0].k + 1}"
            saved.after_epoch(epoch + 1, partial(_group_state, results, group), where)
            _log_members(job, cfg, group, sums, time.time() - te, epoch + 1)
        results.extend(m.weights() for m in group)
        saved.after_models(results, len(job.seeds))
    log.info("trained %d model(s) in %.1f s", len(job.seeds), time.time() - t0)
    return results


# ----------------------------------------------------------------------------------------------------
# a shard of members as one batched computation (CPU, normalisation-free models)
# ----------------------------------------------------------------------------------------------------
# Above this many bytes an MLP shard normalises each step's batch, not the whole job's images once
NORMALISED_LIMIT = 1024**3
# SGD updates this many bytes of parameters, momentum and gradient at a time, so its four passes over them
# run in a core's L2 cache (2 MiB here): 1.4x as fast as four passes over a 32-member shard's 13 MB
SGD_CHUNK_BYTES = 2 * 1024**2


def can_batch(job: Job, cfg: TrainConfig, device: str) -> bool:
    if not cfg.batched or device != "cpu" or len(job.seeds) < 2 or isinstance(job.x, FolderImages):
        return False  # a streamed folder feeds one model at a time
    model = build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)
    # vmapped convolutions ran 0.7x as fast as a loop on 2 cores (benchmarks/members_digits.py): loop those
    has_conv = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    return not has_batchnorm(model) and not has_conv


def _linear_layers(model: torch.nn.Module) -> list[str] | None:
    """An MLP's Linear layers in forward order (a ReLU between each two), whose gradients _Shard writes out
    by hand; None for any other model, which torch.func differentiates."""
    if not isinstance(model, MLP):
        return None
    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]


@dataclass
class _EpochPlan:
    """One epoch of every member of a shard, drawn at its start, step-major: step s reads row s."""

    idx: torch.Tensor  # int64 [S, K, B]: dataset index of each batch row (0 in padding)
    y: torch.Tensor  # int64 [S, K, B]: its label
    wts: torch.Tensor  # float32 [S, K, B]: 1, or 0 for padding and for Job.holdout's point
    shifts: torch.Tensor  # int64 [S, K, B, 2]: random-crop offsets
    flips: torch.Tensor  # bool [S, K, B]
    lrs: torch.Tensor  # float32 [S, K]: learning rate of each member's step (0 once its epoch is over)
    active: torch.Tensor  # bool [S, K]: the member is still in its epoch
    full: list  # per step: every member active (the in-place update needs no selection)


def _sgd_step(params: dict, bufs: dict, grads: dict, lr: torch.Tensor, cfg: TrainConfig) -> None:
    """torch.optim.SGD's arithmetic (momentum, Nesterov, weight decay; no dampening) in place on [K, ...]
    stacked tensors, each member with its own learning rate lr[k]; the gradients are overwritten."""
    for n, stacked in params.items():
        lrs = lr.view(-1, *[1] * (stacked.dim() - 1))
        per = max(1, SGD_CHUNK_BYTES // (3 * stacked[0].nbytes))  # members whose tensors stay in cache
        for c in range(0, len(stacked), per):
            p, d, buf = stacked[c : c + per], grads[n][c : c + per], bufs[n][c : c + per]
            d.add_(p, alpha=cfg.weight_decay)
            buf.mul_(cfg.momentum).add_(d)
            step = d.add_(buf, alpha=cfg.momentum) if cfg.nesterov else buf
            p.addcmul_(step, lrs[c : c + per], value=-1.0)


class _Shard:
    """A shard's K members stacked on a first axis: parameters, momentum buffers and one step for all.

    An MLP's step is written out: forward and backward as batched matmuls over the K members, gradients
    into buffers allocated once, SGD in place. Other models' step is vmapped (torch.func), which is right
    for them too but slower (tests/test_train.py runs a CNN through it)."""

    def __init__(self, job: Job, cfg: TrainConfig):
        self.job, self.cfg, self.K = job, cfg, len(job.seeds)
        models = [init_model(job, k, cfg) for k in range(self.K)]
        self.base = models[0]
        self.names = [n for n, _ in self.base.named_parameters()]
        self.params = {
            n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]) for n in self.names
        }
        self.bufs = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.x, self.y = torch.as_tensor(job.x), torch.as_tensor(job.y)
        cpu = torch.device("cpu")
        self.mean, self.std = _channel_stats(job.mean, cpu), _channel_stats(job.std, cpu)
        self.subsets = [np.asarray(i, dtype=np.int64) for i in job.indices]
        self.holdout = [job.held(k) for k in range(self.K)]
        self.sizes = [len(i) for i in self.subsets]
        self.spe = [steps_per_epoch(n, cfg.batch_size) for n in self.sizes]
        self.layers = _linear_layers(self.base)
        if self.layers is None:
            self.grad_fn = vmap(grad_and_value(self._loss, has_aux=True))
        else:  # written in place every step: a fresh 13 MB gradient per step costs page faults
            self.grads = {n: torch.empty_like(p) for n, p in self.params.items()}
        self.xf = self._normalised()
        if self.xf is not None:  # each step's inputs gathered into it (a fresh 13 MB tensor faults pages)
            self.xbuf = torch.empty(self.K * cfg.batch_size, self.xf.shape[1])

    def _normalised(self) -> torch.Tensor | None:
        """An MLP's inputs without augmentation, normalised once (float32 [N, C*H*W]) instead of per member
        and step: the values `prepare` gives a batch. None when there is augmentation, or over the limit."""
        cfg = self.cfg
        if self.layers is None or cfg.crop_padding > 0 or cfg.flip or 4 * self.x.numel() > NORMALISED_LIMIT:
            return None
        return torch.cat([prepare(c, self.mean, self.std).flatten(1) for c in self.x.split(4096)])

    def _loss(self, p, xb, yb, wb):
        out = functional_call(self.base, p, (xb,))
        ce = F.cross_entropy(out, yb, reduction="none")
        return (ce * wb).sum() / wb.sum().clamp_min(1.0), (out.argmax(1) == yb).float().mul(wb).sum()

    def resume(self, state: dict | None) -> int:
        """The first epoch to run: 0, or where a saved state stopped (its parameters restored)."""
        if state is None:
            return 0
        self.params, self.bufs = state["params"], state["bufs"]
        log.info("shard resumed at epoch %d", state["epoch"])
        return state["epoch"]

    def state(self, done_epochs: int) -> dict:
        return {"params": self.params, "bufs": self.bufs, "epoch": done_epochs}

    def results(self) -> list[dict]:
        return [{"state_dict": {n: self.params[n][k].clone() for n in self.names}} for k in range(self.K)]

    def plan(self, epoch: int) -> _EpochPlan:
        """Every member's batches of the epoch as [steps, K, B] arrays: a loop over members per epoch, none
        per step. Member k's step s holds its epoch_plan order[s * B : (s + 1) * B], as when trained alone."""
        cfg, K, B, S = self.cfg, self.K, self.cfg.batch_size, max(self.spe)
        idx = np.zeros((K, S * B), dtype=np.int64)
        wts = np.zeros((K, S * B), dtype=np.float32)  # short last batch / finished member: padding weighs 0
        shifts = np.zeros((K, S * B, 2), dtype=np.int64)
        flips = np.zeros((K, S * B), dtype=bool)
        lrs = np.zeros((K, S), dtype=np.float32)
        for k, (n, spe) in enumerate(zip(self.sizes, self.spe, strict=True)):
            order, shift, flip = epoch_plan(self.job.seeds[k], epoch, n, cfg)
            idx[k, :n] = self.subsets[k][order]
            wts[k, :n] = idx[k, :n] != self.holdout[k]  # Job.holdout: skipped, weight 0
            shifts[k, :n], flips[k, :n] = shift[order], flip[order]
            lrs[k, :spe] = [lr_at(epoch * spe + s, cfg.epochs * spe, cfg) for s in range(spe)]

        def steps(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a.reshape(K, S, B, *a.shape[2:]).swapaxes(0, 1)))

        active = torch.arange(S)[:, None] < torch.tensor(self.spe)[None, :]
        idx_t, lrs_t = steps(idx), torch.from_numpy(np.ascontiguousarray(lrs.T))
        full = active.all(1).tolist()
        return _EpochPlan(idx_t, self.y[idx_t], steps(wts), steps(shifts), steps(flips), lrs_t, active, full)

    def inputs(self, plan: _EpochPlan, s: int) -> torch.Tensor:
        """Step s's normalised (and augmented) images of every member: [K, B, C, H, W], or [K, B, C*H*W]."""
        K, B = self.K, self.cfg.batch_size
        flat = plan.idx[s].view(-1)
        if self.xf is not None:
            return torch.index_select(self.xf, 0, flat, out=self.xbuf).view(K, B, -1)
        flip = plan.flips[s].view(-1) if self.cfg.flip else None
        xb = prepare(
            self.x[flat], self.mean, self.std, plan.shifts[s].view(-1, 2), flip, self.cfg.crop_padding
        )
        return xb.view(K, B, *xb.shape[1:])

    def step(self, plan: _EpochPlan, s: int) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step of every member still in its epoch; returns their summed losses and hits."""
        xs, ys, ws = self.inputs(plan, s), plan.y[s], plan.wts[s]
        if self.layers is None:
            grads, (loss, hits) = self.grad_fn(self.params, xs, ys, ws)
        else:
            grads, (loss, hits) = self.grads, self._mlp_grads(xs, ys, ws)
        self._sgd(grads, plan.lrs[s], plan.active[s], plan.full[s])
        return loss.detach() * ws.sum(1), hits.detach()

    @torch.no_grad()
    def _mlp_grads(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> tuple:
        """The MLP's forward and backward for every member at once, the gradients of each member's weighted
        mean cross-entropy written into self.grads; returns each member's mean loss and its hits.

        The layers' backward is written out; the loss's (a [K, B, classes] graph) is autograd's, the very
        kernels the sequential path runs: a hand-written softmax gradient differs from it in the last bit,
        which 60 epochs grow to 1e-4 between the paths' weights (autograd's: 3e-7, as vmap's was)."""
        p, g = self.params, self.grads
        acts = [x.flatten(2)]  # each layer's input: [K, B, features]
        for i, name in enumerate(self.layers):
            z = torch.baddbmm(p[f"{name}.bias"].unsqueeze(1), acts[-1], p[f"{name}.weight"].transpose(1, 2))
            acts.append(z.relu_() if i < len(self.layers) - 1 else z)
        out = acts.pop()
        with torch.enable_grad():
            logits = out.requires_grad_()
            ce = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view_as(w)
            loss = (ce * w).sum(1) / w.sum(1).clamp_min(1.0)
            (dz,) = torch.autograd.grad(loss.sum(), logits)
        hits = (out.argmax(-1) == y).float().mul_(w).sum(1)
        for i in reversed(range(len(self.layers))):
            name = self.layers[i]
            torch.bmm(dz.transpose(1, 2), acts[i], out=g[f"{name}.weight"])
            torch.sum(dz, 1, out=g[f"{name}.bias"])
            if i > 0:  # through the ReLU before this layer: its gradient where it let a value through
                dz = torch.bmm(dz, p[f"{name}.weight"]).mul_(acts[i] > 0)
        return loss, hits

    @torch.no_grad()
    def _sgd(self, grads: dict, lr: torch.Tensor, active: torch.Tensor, full: bool) -> None:
        """torch.optim.SGD's step of each member still in its epoch; one whose epoch is over is left alone."""
        if full:
            _sgd_step(self.params, self.bufs, grads, lr, self.cfg)
            return
        on = active.nonzero().squeeze(1)
        params, bufs = ({n: t[on] for n, t in d.items()} for d in (self.params, self.bufs))
        _sgd_step(params, bufs, {n: t[on] for n, t in grads.items()}, lr[on], self.cfg)
        for n in self.names:
            self.params[n][on], self.bufs[n][on] = params[n], bufs[n]


def train_batched(job: Job, cfg: TrainConfig, resume: Path | None = None, stop=None) -> list[dict]:
    """Every member of a shard as one batched computation, each getting the sequential path's weights."""
    shard = _Shard(job, cfg)
    saved = _Resume(resume, _resume_key(job, cfg, "batched"), cfg, stop)
    start = shard.resume(saved.load())
    t0 = time.time()
    for epoch in range(start, cfg.epochs):
        te = time.time()
        plan = shard.plan(epoch)
        loss_sum, hit_sum = torch.zeros(shard.K), torch.zeros(shard.K)
        for s in range(len(plan.full)):
            loss, hits = shard.step(plan, s)
            loss_sum += loss
            hit_sum += hits
        saved.after_epoch(epoch + 1, shard.state, f"epoch {epoch + 1}/{cfg.epochs} of a shard of {shard.K}")
        _log_shard(cfg, shard.sizes, loss_sum, hit_sum, time.time() - te, epoch + 1)
    log.info("trained %d members batched in %.1f s", shard.K, time.time() - t0)
    return shard.results()


def train(
    job: Job,
    cfg: TrainConfig,
    device: str = "cpu",
    resume: Path | None = None,
    flags_on_cpu: bool = False,
    stop=None,
) -> list[dict]:
    """Train every model of the job; returns one {"state_dict"} per model, in job order.

    flags_on_cpu: apply bf16 autocast and channels_last on CPU too (torch supports both there), so that
    tests run the CUDA path's branches without a GPU; it takes the sequential path, which has them.
    stop: a memgen.preempt.StopFlag; once it is set, training saves its resumable state after the epoch
    in progress and raises memgen.preempt.Preempted."""
    if can_batch(job, cfg, device) and not flags_on_cpu:
        return train_batched(job, cfg, resume, stop)
    return train_sequential(job, cfg, device, resume, flags_on_cpu, stop)


@torch.no_grad()
def predict_chunks(job: Job, cfg: TrainConfig, state_dict: dict, x, device: str = "cpu", chunk: int = 1024):
    """float32 logits [chunk, classes] (CPU) of `x` in eval mode on unaugmented inputs, chunk by chunk in
    order: a caller reducing each chunk (memgen.ensemble.outputs.compact) holds O(chunk) logits, not
    N x classes (ImageNet: 5 GB per member)."""
    dev = torch.device(device)
    model = build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)
    model.load_state_dict(state_dict)
    model.to(dev).eval()
    mean, std = _channel_stats(job.mean, dev), _channel_stats(job.std, dev)
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


def _resume_key(job: Job, cfg: TrainConfig, path_kind: str, device: str = "cpu") -> str:
    """What a resume state must match: the recipe, the training path (batched and sequential states
    differ in shape) and the job itself. A job killed, then rerun after a config change that keeps the
    recipe (master seed, mask, canaries) must start over, not continue other members' weights."""
    h = hashlib.sha256(json.dumps([cfg.digest(device), path_kind, job.arch, job.num_classes]).encode())
    h.update(json.dumps([int(s) for s in job.seeds]).encode())
    if isinstance(job.x, FolderImages):
        h.update(job.x.digest().encode())
    for a in (
        *(() if isinstance(job.x, FolderImages) else (job.x,)),
        job.y,
        *(np.asarray(i, dtype=np.int64) for i in job.indices),
        *(() if job.holdout is None else (np.asarray(job.holdout, dtype=np.int64),)),
    ):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a))
    return h.hexdigest()[:16]


def _preempted(stop, resume, where: str) -> Preempted:
    # at epoch boundaries only: batches are a function of (seed, epoch), so no step position is saved
    saved = f"state saved to {resume}, the next attempt resumes there" if resume else "no resume file"
    return Preempted(f"{stop.signal} received: stopped after {where}; {saved}")


def _save_resume(path: Path, key: str, state: dict) -> None:
    save_checkpoint(path, {**state, "resume_key": key})


def _load_resume(path: Path | None, key: str):
    """Resumable state of a killed job, if it was made by this job and recipe; otherwise start over."""
    if path is None or not Path(path).exists():
        return None
    state = load_checkpoint(path)
    if state.get("resume_key") != key:
        log.warning("ignoring %s: it was saved by another job, training path or training config", path)
        return None
    return state


def device() -> str:
    """cuda when a GPU is visible (SLURM jobs), else cpu; CPU-only machines never touch CUDA."""
    return "cuda" if torch.cuda.is_available() else "cpu"
