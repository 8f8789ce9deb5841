"""A shard of members as one computation on CPU, for normalisation-free models: `train_batched`.

An MLP's forward and backward run as batched matmuls over the stacked members, the layers' backward written
out (the loss head's by autograd), SGD in place. A shard of 32 trains 2.4x the samples/s of a bare PyTorch
loop training one MLP at a time on 2 cores (benchmarks/bare_loop.py, Fashion-MNIST's 784 inputs). Other
normalisation-free models can take it too, vmapped (torch.func), but vmapped convolutions were slower than a
loop (0.7x) and torch.func cannot update BatchNorm running statistics, so the workflow loops those
(memgen.ensemble.train.train picks the path: `can_batch`).

Its contract is the equivalence test: each member's weights equal those the sequential reference loop
(memgen.ensemble.train.train_sequential) gives it alone, within float tolerance, with augmentation
(tests/test_train.py::test_batched_shard_equals_members_trained_alone, an MLP and a CNN) and without it
(test_batched_mlp_without_augmentation_equals_members_trained_alone), with Job.holdout
(test_holdout_skips_one_point_in_the_partners_batches); and a stopped shard resumes to bitwise the same
weights (tests/test_preempt.py).
"""

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, vmap

from memgen.data.stream import FolderImages
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
from memgen.ensemble.models import MLP, build_model, has_batchnorm
from memgen.ensemble.point_log import PointLog
from memgen.ensemble.resume import Resume, resume_key
from memgen.recipe import TrainConfig

log = logging.getLogger(__name__)

# Above this many bytes an MLP shard normalises each step's batch, not the whole job's images once
NORMALISED_LIMIT = 1024**3
# SGD updates this many bytes of parameters, momentum and gradient at a time, so its four passes over them
# run in a core's L2 cache (2 MiB here): 1.4x as fast as four passes over a 32-member shard's 13 MB
SGD_CHUNK_BYTES = 2 * 1024**2


def can_batch(job: Job, cfg: TrainConfig, device: str, record: bool = False) -> bool:
    """record: a PointLog is to be filled, which only the MLP's written-out step does (vmapped steps give no
    per-row logits): other models take the sequential path."""
    if not cfg.batched or device != "cpu" or len(job.seeds) < 2 or isinstance(job.x, FolderImages):
        return False  # a streamed folder feeds one model at a time
    model = build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)
    if record and _linear_layers(model) is None:
        return False
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
    epoch: int = 0


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

    def __init__(self, job: Job, cfg: TrainConfig, log: PointLog | None = None):
        self.job, self.cfg, self.K, self.log = job, cfg, len(job.seeds), log
        models = [init_model(job, k, cfg) for k in range(self.K)]
        self.base = models[0]
        self.names = [n for n, _ in self.base.named_parameters()]
        self.params = {
            n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]) for n in self.names
        }
        self.bufs = {n: torch.zeros_like(p) for n, p in self.params.items()}
        self.x, self.y = torch.as_tensor(job.x), torch.as_tensor(job.y)
        cpu = torch.device("cpu")
        self.mean, self.std = channel_stats(job.mean, cpu), channel_stats(job.std, cpu)
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
        if self.log is not None:
            self.log.load(state["point_log"])
        log.info("shard resumed at epoch %d", state["epoch"])
        return state["epoch"]

    def state(self, done_epochs: int) -> dict:
        saved = {"params": self.params, "bufs": self.bufs, "epoch": done_epochs}
        return saved | ({} if self.log is None else {"point_log": self.log.state()})

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
        y = self.y[idx_t]
        return _EpochPlan(idx_t, y, steps(wts), steps(shifts), steps(flips), lrs_t, active, full, epoch)

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
            grads, (loss, hits, ce, right) = self.grads, self._mlp_grads(xs, ys, ws)
            if self.log is not None:  # from this step's logits: no extra forward pass
                self.log.add_shard(plan.epoch, plan.idx[s], ce, right, ws)
        self._sgd(grads, plan.lrs[s], plan.active[s], plan.full[s])
        return loss.detach() * ws.sum(1), hits.detach()

    @torch.no_grad()
    def _mlp_grads(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> tuple:
        """The MLP's forward and backward for every member at once, the gradients of each member's weighted
        mean cross-entropy written into self.grads; returns each member's mean loss and its hits, and each
        row's cross-entropy and correctness [K, B] (what a PointLog records).

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
        right = out.argmax(-1) == y
        hits = right.float().mul_(w).sum(1)
        for i in reversed(range(len(self.layers))):
            name = self.layers[i]
            torch.bmm(dz.transpose(1, 2), acts[i], out=g[f"{name}.weight"])
            torch.sum(dz, 1, out=g[f"{name}.bias"])
            if i > 0:  # through the ReLU before this layer: its gradient where it let a value through
                dz = torch.bmm(dz, p[f"{name}.weight"]).mul_(acts[i] > 0)
        return loss, hits, ce.detach(), right

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
        fmt_eta(dt * (cfg.epochs - done_epochs)),
    )


def train_batched(
    job: Job, cfg: TrainConfig, resume: Path | None = None, stop=None, record: PointLog | None = None
) -> list[dict]:
    """Every member of a shard as one batched computation, each getting the sequential path's weights.
    record: a PointLog filled from the training steps (an MLP's: `can_batch(..., record=True)`)."""
    shard = _Shard(job, cfg, record)
    saved = Resume(resume, resume_key(job, cfg, "batched" + ("+log" if record else "")), cfg, stop)
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
