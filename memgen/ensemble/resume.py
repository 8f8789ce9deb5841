"""A training job's resumable state, the same for both paths (memgen.ensemble.train, .batched): read once at
the start, saved every checkpoint_every epochs, and saved when a signal asks to stop (memgen.preempt), which
then ends training with Preempted. A state is continued only by the job and recipe that saved it
(`resume_key`); anything else starts over.
"""

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memgen.data.stream import FolderImages
from memgen.ensemble.common import Job
from memgen.io import load_checkpoint, save_checkpoint
from memgen.preempt import Preempted
from memgen.recipe import TrainConfig

log = logging.getLogger(__name__)


def checkpoint_due(cfg: TrainConfig, resume, done_epochs: int) -> bool:
    """Save resumable state every checkpoint_every epochs; the last epoch writes real outputs instead."""
    return bool(
        cfg.checkpoint_every
        and resume
        and done_epochs % cfg.checkpoint_every == 0
        and done_epochs < cfg.epochs
    )


@dataclass
class Resume:
    """A job's resumable state: read once at the start, saved every checkpoint_every epochs and when a
    signal asks to stop (memgen.preempt), which then ends training with Preempted."""

    path: Path | None
    key: str  # resume_key: what a saved state must match to be continued
    cfg: TrainConfig
    stop: object = None  # a memgen.preempt.StopFlag, or None

    def load(self):
        return load_resume(self.path, self.key)

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
        if self.path and (stopping or checkpoint_due(self.cfg, self.path, done_epochs)):
            save_resume(self.path, self.key, state(done_epochs))
        if stopping:
            raise preempted(self.stop, self.path, where)

    def after_models(self, results: list, total: int, extra: dict | None = None) -> None:
        """Between groups of the sequential path: the finished models saved, the next group not started.
        extra: saved beside them (a PointLog's state)."""
        stopping = bool(self.stop) and len(results) < total
        if self.path and (self.cfg.checkpoint_every or stopping):
            save_resume(self.path, self.key, {"done": results, "current": None, **(extra or {})})
        if stopping:
            raise preempted(self.stop, self.path, f"model {len(results)} of {total}")


def resume_key(job: Job, cfg: TrainConfig, path_kind: str, device: str = "cpu") -> str:
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


def preempted(stop, resume, where: str) -> Preempted:
    # at epoch boundaries only: batches are a function of (seed, epoch), so no step position is saved
    saved = f"state saved to {resume}, the next attempt resumes there" if resume else "no resume file"
    return Preempted(f"{stop.signal} received: stopped after {where}; {saved}")


def save_resume(path: Path, key: str, state: dict) -> None:
    save_checkpoint(path, {**state, "resume_key": key})


def load_resume(path: Path | None, key: str):
    """Resumable state of a killed job, if it was made by this job and recipe; otherwise start over."""
    if path is None or not Path(path).exists():
        return None
    state = load_checkpoint(path)
    if state.get("resume_key") != key:
        log.warning("ignoring %s: it was saved by another job, training path or training config", path)
        return None
    return state
