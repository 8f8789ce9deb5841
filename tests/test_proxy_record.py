"""What a trained proxy model measures at the end (memgen.proxies.record): the curvature estimate against
the exact trace of H^2 of a model whose input Hessian is known in closed form, and the final loss and
margin against a hand computation."""

import numpy as np
import torch
import torch.nn.functional as F
from test_train import recipe

from memgen.ensemble.common import Job, prepare
from memgen.ensemble.models import build_model
from memgen.proxies.record import curvature, final_measures


def test_curvature_estimates_the_trace_of_the_squared_input_hessian_of_a_softmax_regression():
    """For logits W x + b, the loss's Hessian in x is W^T (diag(p) - p p^T) W: the estimate over many
    Rademacher vectors is tr(H^2) to within its sampling error, for each point."""
    torch.manual_seed(0)
    model = torch.nn.Linear(6, 4).double()
    x, y = torch.randn(3, 6, dtype=torch.float64), torch.tensor([0, 2, 3])
    est = curvature(model, x, y, samples=4000, h=1e-4, gen=torch.Generator().manual_seed(1))
    W = model.weight.detach()
    for i in range(3):
        p = torch.softmax(model(x[i]), 0).detach()
        H = W.T @ (torch.diag(p) - torch.outer(p, p)) @ W
        exact = torch.trace(H @ H).item()
        assert abs(est[i].item() - exact) < 0.08 * exact, (i, est[i].item(), exact)
    # a point the model is surest of (p ~ one-hot) has almost no curvature
    sure = torch.zeros(1, 6, dtype=torch.float64)
    model.bias.data = torch.tensor([50.0, 0, 0, 0], dtype=torch.float64)
    assert curvature(model, sure, torch.tensor([0]), 8, 1e-4, torch.Generator()).item() < 1e-12


def test_the_mlps_first_layer_shortcut_gives_the_generic_estimate():
    """memgen's MLP takes the first-layer shortcut; wrapped in a Sequential it takes the generic path. With
    the same generator (so the same vectors) the two agree point by point, kinks of the ReLU included."""
    torch.manual_seed(3)
    mlp = build_model("mlp", (1, 8, 8), 5, {"hidden": 16}).double().eval()
    x, y = torch.randn(40, 1, 8, 8, dtype=torch.float64), torch.randint(0, 5, (40,))
    fast = curvature(mlp, x, y, 6, 1e-3, torch.Generator().manual_seed(2))
    generic = curvature(torch.nn.Sequential(mlp), x, y, 6, 1e-3, torch.Generator().manual_seed(2))
    assert fast.shape == (40,) and (fast > 0).all()
    torch.testing.assert_close(fast, generic, rtol=1e-6, atol=1e-9)


def test_final_loss_and_margin_are_the_trained_models_on_unaugmented_points():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(10, 1, 8, 8), dtype=np.uint8)
    y = rng.integers(0, 3, size=10).astype(np.int64)
    mean, std = (x / 255).mean(axis=(0, 2, 3)), (x / 255).std(axis=(0, 2, 3))
    job = Job(x, y, [np.arange(10)], [7], "mlp", 3, mean, std)
    cfg = recipe()
    torch.manual_seed(7)
    model = build_model("mlp", x.shape[1:], 3, cfg.model)
    out = final_measures(job, cfg, model.state_dict(), "cpu", samples=2, h=1e-3, seed=0, chunk=4)
    stats = [torch.as_tensor(v, dtype=torch.float32)[None, :, None, None] for v in (mean, std)]
    with torch.no_grad():
        logits = model.eval()(prepare(torch.as_tensor(x), *stats))
    yt = torch.as_tensor(y)
    np.testing.assert_allclose(out["final_loss"], F.cross_entropy(logits, yt, reduction="none"), rtol=1e-5)
    for i in range(10):
        others = [logits[i, c].item() for c in range(3) if c != y[i]]
        assert abs(out["final_margin"][i] - (logits[i, y[i]].item() - max(others))) < 1e-5
    assert out["curvature"].shape == (10,) and (out["curvature"] >= 0).all()
