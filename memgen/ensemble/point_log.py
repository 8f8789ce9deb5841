"""A training job's per-point log: whether each model got each of its training points right, and its loss,
in the training forward pass of every epoch (what learning-speed and forgetting proxies read:
memgen/proxies/definitions.py). Both training paths fill it (memgen.ensemble.train, .batched) from the
logits they already compute, so recording adds no forward pass and leaves the weights as they were; it is
saved with the resumable state, so a resumed job's log is whole.
"""

import numpy as np
import torch
import torch.nn.functional as F


class PointLog:
    """correct (bool) and loss (float32, NaN where a point was not in a batch) per [model, epoch, point].

    Augmented views are what the model saw, so they are what is logged (as the proxies' papers do)."""

    def __init__(self, models: int, epochs: int, n: int, device="cpu"):
        self.correct = torch.zeros((models, epochs, n), dtype=torch.bool, device=device)
        self.loss = torch.full((models, epochs, n), float("nan"), dtype=torch.float32, device=device)

    @torch.no_grad()
    def add(self, k: int, epoch: int, idx: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        """One model's batch: its dataset indices, logits and labels (the sequential path)."""
        logits = logits.detach().float()
        self.correct[k, epoch, idx] = logits.argmax(1) == y
        self.loss[k, epoch, idx] = F.cross_entropy(logits, y, reduction="none")

    @torch.no_grad()
    def add_shard(self, epoch: int, idx, ce, right, weight) -> None:
        """A shard's step, [K, B] each: dataset indices, cross-entropy, correctness and batch weight (0 for
        padding and a held-out point, which are not logged)."""
        k = torch.arange(idx.shape[0], device=idx.device)[:, None].expand_as(idx)
        on = weight > 0
        k, i = k[on], idx[on]
        self.correct[k, epoch, i] = right[on]
        self.loss[k, epoch, i] = ce.detach()[on].float()

    def state(self) -> dict:
        return {"correct": self.correct.cpu(), "loss": self.loss.cpu()}

    def load(self, state: dict | None) -> None:
        """Restore a saved log (a resumed job); None leaves it empty."""
        if state is not None:
            self.correct.copy_(state["correct"])
            self.loss.copy_(state["loss"])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"correct": self.correct.cpu().numpy(), "loss": self.loss.cpu().numpy()}
