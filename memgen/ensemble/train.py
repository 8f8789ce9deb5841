"""Training members and utility runs: one loop, readable top to bottom.

Two ways to run the same recipe (same init, batch order, augmentation and SGD arithmetic per seed):
- `train_sequential`: nn.Modules with torch.optim.SGD, `concurrent_members` at a time (each on its own CUDA
  stream; on CPU they take turns); the CUDA path (data held on the GPU as uint8, augmentation on the GPU,
  bf16 autocast, channels_last, no host synchronisation inside an epoch) and the path for BatchNorm models.
- `train_batched`: every member of a shard as one vmapped computation (torch.func) on CPU, for MLPs: 1.7x
  faster than one at a time on 2 cores (benchmarks/members_digits.py). torch.func cannot update BatchNorm
  running statistics, and vmapped convolutions were slower than a loop (0.7x), so other models loop.
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
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, vmap

from memgen.data.stream import FolderImages, iter_chunks
from memgen.ensemble.models import build_model, has_batchnorm
from memgen.io import load_checkpoint, save_checkpoint
from memgen.preempt import Preempted
from memgen.recipe import TrainConfig

log = logging.getLogger("memgen.ensemble.train")


@dataclass
class Job:
    """What to train: the data (uint8 images, labels) and one index set + seed per model."""

    x: "np.ndarray | FolderImages"  # uint8 [N, C, H, W], or an image folder streamed from disk
    y: np.ndarray  # int64 [N] labels used for training (scoring labels for ensembles)
    indices: list  # per model: int64 training indices
    seeds: list  # per model: int seed (init, batch order, augmentation)
    arch: str
    num_classes: int
    mean: np.ndarray
    std: np.ndarray


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


def _checkpoint_due(cfg: TrainConfig, resume, done_epochs: int) -> bool:
    """Save resumable state every checkpoint_every epochs; the last epoch writes real outputs instead."""
    return bool(
        cfg.checkpoint_every
        and resume
        and done_epochs % cfg.checkpoint_every == 0
        and done_epochs < cfg.epochs
    )


def _fmt_eta(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(max(0, seconds)))


# ----------------------------------------------------------------------------------------------------
# nn.Modules, one group of concurrent_members after another (CUDA path, BatchNorm models, reference for
# the batched path)
# ----------------------------------------------------------------------------------------------------
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
    plan: tuple = ()  # this epoch's order, shifts, flips on the device
    feed: object = None  # a streamed folder: this epoch's batches, read ahead by worker processes
    loss_sum: torch.Tensor | None = None  # on the device: read once per epoch, never inside the step loop
    hits: torch.Tensor | None = None


def _on(stream):
    """Queue work on a member's CUDA stream; without one (CPU, or one member) on the current stream."""
    return torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext()


def train_sequential(
    job: Job,
    cfg: TrainConfig,
    device: str = "cpu",
    resume: Path | None = None,
    flags_on_cpu: bool = False,
    stop=None,
) -> list[dict]:
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    # bf16 and channels_last act on CUDA; flags_on_cpu switches them on for CPU (tests, see train())
    flags = cuda or flags_on_cpu
    bf16, channels_last = flags and cfg.bf16, flags and cfg.channels_last
    G = max(1, int(cfg.concurrent_members))
    if cuda:  # fixed shapes: let cuDNN time its convolution kernels once and keep the fastest
        torch.backends.cudnn.benchmark = True
    # uint8 stays uint8 on the device (4x less memory); a streamed folder is read batch by batch instead
    streamed = isinstance(job.x, FolderImages)
    x_all = None if streamed else torch.as_tensor(job.x, device=dev)
    y_all = torch.as_tensor(job.y, device=dev)
    mean = torch.as_tensor(job.mean, dtype=torch.float32, device=dev)[None, :, None, None]
    std = torch.as_tensor(job.std, dtype=torch.float32, device=dev)[None, :, None, None]
    # a group's resume state holds G models: a state saved with another G (or path) must not be misread
    key = _resume_key(job, cfg, "sequential" if G == 1 else f"concurrent{G}", "cuda" if flags else "cpu")
    state = _load_resume(resume, key) or {"done": [], "current": None}
    results = list(state["done"])
    in_flight = state["current"] or []
    if isinstance(in_flight, dict):  # written before groups existed: the one model then in flight
        in_flight = [in_flight]
    if results:
        log.info("resumed: %d of %d model(s) already trained", len(results), len(job.seeds))
    B = cfg.batch_size
    t0 = time.time()
    for first in range(len(results), len(job.seeds), G):
        # ---- set up the group's models (on the current stream; each member's stream waits for it below)
        group = []
        for j, k in enumerate(range(first, min(first + G, len(job.seeds)))):
            model = init_model(job, k, cfg).to(dev)
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            opt = torch.optim.SGD(
                model.parameters(),
                lr=0.0,
                momentum=cfg.momentum,
                nesterov=cfg.nesterov,
                weight_decay=cfg.weight_decay,
            )
            start = 0
            if j < len(in_flight):
                model.load_state_dict(in_flight[j]["model"])
                opt.load_state_dict(in_flight[j]["opt"])
                start = in_flight[j]["epoch"]
                log.info("model %d: resumed at epoch %d", k, start)
            idx_k = torch.as_tensor(np.asarray(job.indices[k]), device=dev)
            spe = steps_per_epoch(len(idx_k), B)
            lrs = [lr_at(i, cfg.epochs * spe, cfg) for i in range(cfg.epochs * spe)]
            stream = torch.cuda.Stream(dev) if cuda and G > 1 else None
            if stream is not None:
                stream.wait_stream(torch.cuda.current_stream(dev))  # the data and this model are ready
            forward = torch.compile(model) if cfg.compile else model
            group.append(_Member(k, model, forward, opt, stream, idx_k, spe, lrs, start))
        in_flight = []
        # ---- train them: the members of a group run the same epochs (they start and resume together)
        for epoch in range(group[0].start, cfg.epochs):
            te = time.time()
            for m in group:
                with _on(m.stream):
                    m.model.train()
                    plan = epoch_plan(job.seeds[m.k], epoch, len(m.idx), cfg)
                    m.plan = tuple(torch.as_tensor(a, device=dev) for a in plan)
                    if streamed:  # the same order and flips; the files are read in that order
                        order = np.asarray(job.indices[m.k], dtype=np.int64)[plan[0]]
                        workers = max(1, job.x.workers // len(group)) if job.x.workers else 0
                        m.feed = job.x.batches(
                            order, B, job.seeds[m.k], epoch, cfg.random_resized_crop, dev, workers
                        )
                    m.loss_sum = torch.zeros((), device=dev)
                    m.hits = torch.zeros((), dtype=torch.int64, device=dev)
            for s in range(max(m.spe for m in group)):
                # each member queues one step in turn: on CUDA on its own stream, so the GPU overlaps them
                for m in group:
                    if s >= m.spe:
                        continue  # a smaller subset: this member's epoch is over
                    with _on(m.stream):
                        order, shifts, flips = m.plan
                        sel = order[s * B : (s + 1) * B]
                        idx = m.idx[sel]
                        flip = flips[sel] if cfg.flip else None
                        raw = next(m.feed) if streamed else x_all[idx]
                        xb = prepare(raw, mean, std, shifts[sel], flip, cfg.crop_padding)
                        if channels_last:
                            xb = xb.contiguous(memory_format=torch.channels_last)
                        yb = y_all[idx]
                        for g in m.opt.param_groups:
                            g["lr"] = m.lrs[epoch * m.spe + s]
                        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                            out = m.forward(xb)
                            loss = F.cross_entropy(out.float(), yb)
                        m.opt.zero_grad(set_to_none=True)
                        loss.backward()
                        m.opt.step()
                        m.loss_sum += loss.detach() * len(sel)
                        m.hits += (out.argmax(1) == yb).sum()
            # ---- end of epoch: the one wait for the device, then logs and resumable state
            if cuda:
                torch.cuda.synchronize(dev)
            sums = torch.stack([torch.stack((m.loss_sum, m.hits.float())) for m in group]).cpu().tolist()
            done_epochs = epoch + 1
            stopping = bool(stop) and done_epochs < cfg.epochs  # a signal asked to stop (memgen.preempt)
            if resume and (stopping or _checkpoint_due(cfg, resume, done_epochs)):
                cur = [
                    {"model": m.model.state_dict(), "opt": m.opt.state_dict(), "epoch": done_epochs}
                    for m in group
                ]
                _save_resume(resume, key, {"done": results, "current": cur})
            if stopping:
                raise _preempted(stop, resume, f"epoch {done_epochs}/{cfg.epochs} of model {group[0].k + 1}")
            dt = time.time() - te
            if dt > 1.0 or done_epochs == cfg.epochs:
                groups_left = math.ceil((len(job.seeds) - first - len(group)) / G)
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
        for m in group:
            results.append(
                {"state_dict": {n: t.detach().cpu().clone() for n, t in m.model.state_dict().items()}}
            )
        stopping = bool(stop) and len(results) < len(job.seeds)
        if resume and (cfg.checkpoint_every or stopping):
            _save_resume(resume, key, {"done": results, "current": None})
        if stopping:
            raise _preempted(stop, resume, f"model {len(results)} of {len(job.seeds)}")
    log.info("trained %d model(s) in %.1f s", len(job.seeds), time.time() - t0)
    return results


# ----------------------------------------------------------------------------------------------------
# a shard of members as one vmapped computation (CPU, normalisation-free models)
# ----------------------------------------------------------------------------------------------------
def can_batch(job: Job, cfg: TrainConfig, device: str) -> bool:
    if not cfg.batched or device != "cpu" or len(job.seeds) < 2 or isinstance(job.x, FolderImages):
        return False  # a streamed folder feeds one model at a time
    model = build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)
    # Measured on 2 cores (benchmarks/members_digits.py): vmapped MLPs 1.7x faster than one at a time, but
    # vmapped convolutions 0.7x (torch.func runs them member by member), so conv nets go one at a time.
    has_conv = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    return not has_batchnorm(model) and not has_conv


def train_batched(job: Job, cfg: TrainConfig, resume: Path | None = None, stop=None) -> list[dict]:
    K = len(job.seeds)
    models = [init_model(job, k, cfg) for k in range(K)]
    base = models[0]
    names = [n for n, _ in base.named_parameters()]
    params = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]) for n in names}
    bufs = {n: torch.zeros_like(p) for n, p in params.items()}
    x_all = torch.as_tensor(job.x)
    y_all = torch.as_tensor(job.y)
    mean = torch.as_tensor(job.mean, dtype=torch.float32)[None, :, None, None]
    std = torch.as_tensor(job.std, dtype=torch.float32)[None, :, None, None]
    subsets = [np.asarray(i, dtype=np.int64) for i in job.indices]
    sizes = [len(i) for i in subsets]
    spe = [steps_per_epoch(n, cfg.batch_size) for n in sizes]
    start = 0
    key = _resume_key(job, cfg, "batched")
    state = _load_resume(resume, key)
    if state is not None:
        params, bufs, start = state["params"], state["bufs"], state["epoch"]
        log.info("shard resumed at epoch %d", start)

    def loss_fn(p, xb, yb, wb):
        out = functional_call(base, p, (xb,))
        ce = F.cross_entropy(out, yb, reduction="none")
        return (ce * wb).sum() / wb.sum().clamp_min(1.0), (out.argmax(1) == yb).float().mul(wb).sum()

    step_fn = vmap(grad_and_value(loss_fn, has_aux=True))
    B = cfg.batch_size
    t0 = time.time()
    for epoch in range(start, cfg.epochs):
        te = time.time()
        plans = [epoch_plan(job.seeds[k], epoch, sizes[k], cfg) for k in range(K)]
        loss_sum = torch.zeros(K)
        hit_sum = torch.zeros(K)
        for s in range(max(spe)):
            # one gather for the whole shard: a per-member Python loop over tensors costs more than the math
            idx = np.zeros((K, B), dtype=np.int64)
            wts = np.zeros(
                (K, B), dtype=np.float32
            )  # short last batch / finished member: padded rows weigh 0
            shifts = np.zeros((K, B, 2), dtype=np.int64)
            flips = np.zeros((K, B), dtype=bool)
            for k in range(K):
                order, shift_k, flip_k = plans[k]
                sel = order[s * B : (s + 1) * B]
                idx[k, : len(sel)] = subsets[k][sel]
                wts[k, : len(sel)] = 1.0
                shifts[k, : len(sel)] = shift_k[sel]
                flips[k, : len(sel)] = flip_k[sel]
            flat = torch.from_numpy(idx.ravel())
            xb = prepare(
                x_all[flat],
                mean,
                std,
                torch.from_numpy(shifts.reshape(-1, 2)),
                torch.from_numpy(flips.ravel()) if cfg.flip else None,
                cfg.crop_padding,
            )
            xs = xb.view(K, B, *xb.shape[1:])
            ys = y_all[flat].view(K, B)
            ws = torch.from_numpy(wts)
            lrs = [
                lr_at(epoch * spe[k] + s, cfg.epochs * spe[k], cfg) if s < spe[k] else 0.0 for k in range(K)
            ]
            active = torch.tensor([s < spe[k] for k in range(K)])
            (grads, (loss, hits)) = step_fn(params, xs, ys, ws)
            loss_sum += loss.detach() * ws.sum(1)
            hit_sum += hits.detach()
            lr = torch.tensor(lrs)
            with torch.no_grad():
                for n in names:  # torch.optim.SGD's arithmetic, per member, skipped for inactive members
                    shape = (K,) + (1,) * (params[n].dim() - 1)
                    d = grads[n] + cfg.weight_decay * params[n]
                    buf = cfg.momentum * bufs[n] + d
                    step = d + cfg.momentum * buf if cfg.nesterov else buf
                    on = active.view(shape)
                    bufs[n] = torch.where(on, buf, bufs[n])
                    params[n] = torch.where(on, params[n] - lr.view(shape) * step, params[n])
        done_epochs = epoch + 1
        stopping = bool(stop) and done_epochs < cfg.epochs  # a signal asked to stop (memgen.preempt)
        if resume and (stopping or _checkpoint_due(cfg, resume, done_epochs)):
            _save_resume(resume, key, {"params": params, "bufs": bufs, "epoch": done_epochs})
        if stopping:
            raise _preempted(stop, resume, f"epoch {done_epochs}/{cfg.epochs} of a shard of {K}")
        dt = time.time() - te
        if done_epochs % max(1, cfg.epochs // 10) == 0 or done_epochs == cfg.epochs:
            n_tot = torch.tensor(sizes, dtype=torch.float32)
            log.info(
                "shard of %d epoch %d/%d | loss %.4f | train acc %.3f | %.2f s/epoch | eta %s",
                K,
                done_epochs,
                cfg.epochs,
                (loss_sum / n_tot).mean(),
                (hit_sum / n_tot).mean(),
                dt,
                _fmt_eta(dt * (cfg.epochs - done_epochs)),
            )
    log.info("trained %d members batched in %.1f s", K, time.time() - t0)
    return [{"state_dict": {n: params[n][k].clone() for n in names}} for k in range(K)]


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
    order: a caller reducing each chunk (memgen.ensemble.outputs.compact) holds O(chunk) logits, not N x classes
    (ImageNet: 5 GB per member)."""
    dev = torch.device(device)
    model = build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)
    model.load_state_dict(state_dict)
    model.to(dev).eval()
    mean = torch.as_tensor(job.mean, dtype=torch.float32, device=dev)[None, :, None, None]
    std = torch.as_tensor(job.std, dtype=torch.float32, device=dev)[None, :, None, None]
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
    ):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a))
    return h.hexdigest()[:16]


def _preempted(stop, resume, where: str) -> Preempted:
    # Epoch boundaries only: batches are a function of (seed, epoch), so a state saved between epochs
    # resumes bitwise-identically with no step position to restore; the profile's signal lead time must
    # exceed one epoch (README: long members).
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
