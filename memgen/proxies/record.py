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
from memgen.ensemble.models import MLP, build_model
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


def _first_linear(model):
    """(first layer, the rest) where model(x) = rest(first(flatten(x))) with `first` a Linear, for memgen's
    MLP; None for any other model."""
    if type(model) is MLP:
        return model.body[1], lambda z: model.fc(model.body[2](z))
    return None


def _squared_differences(model, x, y, v, h) -> torch.Tensor:
    """[S, B]: ||grad_x l(x + h v_s) - grad_x l(x)||^2 of each point and vector. The point and its S
    perturbed copies go through the model as one batch: one backward, not 1 + S."""
    S, B = len(v), len(x)
    split = _first_linear(model)
    if split is None:
        g = _input_grad(model, torch.cat([x, (x[None] + h * v[:, None]).flatten(0, 1)]), y.repeat(S + 1))
        return (g[B:].view(S, B, -1) - g[:B].view(1, B, -1)).pow(2).sum(2)
    # The first layer is linear: W(x + h v) = W x + h W v, and grad_x = W^T grad_z. So each vector's
    # image W v is computed once for the chunk, and ||W^T e||^2 = e^T (W W^T) e needs no input-sized
    # product: the same numbers as the branch above (tests/test_proxy_record.py) in a third of its time
    # on the Fashion-MNIST MLP (benchmarks/proxy_overhead.py).
    first, rest = split
    z = first(x.flatten(1))
    u = h * (v.flatten(1) @ first.weight.T)
    g = _input_grad(rest, torch.cat([z, (z[None] + u[:, None]).flatten(0, 1)]), y.repeat(S + 1))
    e = g[B:].view(S, B, -1) - g[:B].view(1, B, -1)
    return ((e @ (first.weight @ first.weight.T)) * e).sum(2)


def curvature(model, x: torch.Tensor, y: torch.Tensor, samples: int, h: float, gen) -> torch.Tensor:
    """float32 [B]: mean over `samples` Rademacher v of ||grad(x + h v) - grad(x)||^2 / h^2 per point. The
    chunk's points share their S vectors: each point's estimate is still the mean over S independent
    vectors, and memgen's MLP then needs each vector's first-layer image only once."""
    v = rademacher((samples, *x.shape[1:]), gen).to(x.device, x.dtype)
    return _squared_differences(model, x, y, v, h).mean(0) / h**2


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
