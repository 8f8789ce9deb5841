"""What a trained proxy model measures on every training point at the end: its loss, its margin and the
input-loss curvature (memgen/proxies/definitions.py turns these and the training log into proxies).

Curvature follows Garg, Ravikumar & Roy (2024, "Memorization through the lens of curvature of loss function
around samples"): with Rademacher vectors v and a step h, mean_v ||grad_x l(x + h v) - grad_x l(x)||^2 / h^2,
a finite-difference Hutchinson estimate of E||H v||^2 = tr(H^2) of the loss Hessian H in the input. Their
h = 1e-3 and 10 vectors are the config's defaults (docs/decisions.md: Memorization proxies).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

from memgen.data.stream import iter_chunks
from memgen.ensemble.common import Job, channel_stats, prepare
from memgen.ensemble.models import build_model
from memgen.recipe import TrainConfig


def _input_grad(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each point's gradient of its own loss in its input (eval mode: points do not interact)."""
    x = x.detach().requires_grad_()
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)
    return g


def rademacher(shape: tuple, gen) -> torch.Tensor:
    """float32 +-1 of `shape`, eight signs from each random byte (half the time of one draw per sign)."""
    n = math.prod(shape)
    raw = torch.randint(0, 256, (-(-n // 8),), generator=gen, dtype=torch.uint8)
    bits = (raw[:, None] >> torch.arange(8, dtype=torch.uint8)) & 1
    return bits.flatten()[:n].view(shape).to(torch.float32) * 2 - 1


def curvature(model, x: torch.Tensor, y: torch.Tensor, samples: int, h: float, gen) -> torch.Tensor:
    """float32 [B]: mean over `samples` Rademacher v of ||grad(x + h v) - grad(x)||^2 / h^2 per point. The
    point and its `samples` perturbed copies go through the model as one batch: one backward, not 1 + S."""
    S, B = samples, len(x)
    v = rademacher((S, *x.shape), gen).to(x.device, x.dtype)
    g = _input_grad(model, torch.cat([x, (x + h * v).flatten(0, 1)]), y.repeat(S + 1))
    d = g[B:].view(S, B, -1) - g[:B].view(1, B, -1)
    return d.pow(2).sum(2).mean(0) / h**2


def final_measures(
    job: Job, cfg: TrainConfig, state_dict: dict, dev: str, samples: int, h: float, seed: int, chunk=256
) -> dict[str, np.ndarray]:
    """final_loss, final_margin (true logit minus the largest other) and curvature, float32 [N], of one
    trained model on every training point, unaugmented, in eval mode, chunk by chunk."""
    model = build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)
    model.load_state_dict(state_dict)
    model.to(dev).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    mean, std = channel_stats(job.mean, torch.device(dev)), channel_stats(job.std, torch.device(dev))
    gen = torch.Generator().manual_seed(int(seed))
    y_all = torch.as_tensor(job.y)
    out = {k: [] for k in ("final_loss", "final_margin", "curvature")}
    start = 0
    for raw in iter_chunks(job.x, chunk, torch.device(dev)):
        x = prepare(raw, mean, std)
        y = y_all[start : start + len(x)].to(dev)
        start += len(x)
        with torch.no_grad():
            logits = model(x).float()
        true = logits.gather(1, y[:, None]).squeeze(1)
        other = logits.scatter(1, y[:, None], float("-inf")).amax(1)
        out["final_loss"].append(F.cross_entropy(logits, y, reduction="none").cpu())
        out["final_margin"].append((true - other).cpu())
        out["curvature"].append(curvature(model, x, y, samples, h, gen).cpu())
    return {k: torch.cat(v).numpy().astype(np.float32) for k, v in out.items()}
