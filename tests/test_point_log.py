"""The per-point training log (memgen.ensemble.point_log): both training paths fill it from the logits of
their own steps, alike, without moving a weight, and a resumed job's log equals an uninterrupted one's."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_train import Killed, assert_same_weights, kill_after_saves, make_job, recipe

from memgen.ensemble.batched import train_batched
from memgen.ensemble.common import epoch_plan, prepare
from memgen.ensemble.models import build_model
from memgen.ensemble.point_log import PointLog
from memgen.ensemble.train import train_sequential


def new_log(job, cfg) -> PointLog:
    return PointLog(len(job.seeds), cfg.epochs, len(job.y))


@pytest.mark.parametrize("path", [train_batched, train_sequential])
def test_recording_leaves_every_weight_as_it_was(path):
    job, cfg = make_job(), recipe()
    plain, logged = path(job, cfg), path(job, cfg, record=new_log(job, cfg))
    for a, b in zip(plain, logged, strict=True):
        assert_same_weights(a["state_dict"], b["state_dict"], atol=0)


def test_both_paths_log_each_point_of_each_members_batches_alike():
    """Each member logs exactly its own subset every epoch (NaN loss elsewhere); the batched path's log
    equals the sequential one's (within the float tolerance their weights agree to)."""
    job, cfg = make_job(), recipe()
    a, b = new_log(job, cfg), new_log(job, cfg)
    train_batched(job, cfg, record=a)
    train_sequential(job, cfg, record=b)
    for k, idx in enumerate(job.indices):
        seen = ~torch.isnan(a.loss[k])
        assert seen.sum(1).tolist() == [len(idx)] * cfg.epochs
        assert torch.equal(seen, ~torch.isnan(b.loss[k])) and seen[:, idx].all()
    torch.testing.assert_close(a.loss, b.loss, atol=1e-4, rtol=0, equal_nan=True)
    assert torch.equal(a.correct, b.correct) and a.correct.any() and not a.correct.all()


def test_the_log_is_the_loss_of_the_batch_the_model_saw():
    """Model 0's first-epoch log, recomputed by hand: its initial weights on its first batch (epoch 0 of
    its seed, augmented as trained), cross-entropy and argmax per row."""
    job, cfg = make_job(sizes=(20,), seeds=(3,)), recipe()
    log = new_log(job, cfg)
    train_sequential(job, cfg, record=log)
    torch.manual_seed(3)
    model = build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)
    order, shifts, flips = epoch_plan(3, 0, 20, cfg)
    sel = order[: cfg.batch_size]
    idx = job.indices[0][sel]
    mean, std = (torch.as_tensor(v, dtype=torch.float32)[None, :, None, None] for v in (job.mean, job.std))
    xb = prepare(
        torch.as_tensor(job.x[idx]),
        mean,
        std,
        torch.as_tensor(shifts[sel]),
        torch.as_tensor(flips[sel]),
        cfg.crop_padding,
    )
    with torch.no_grad():
        out = model(xb)
    y = torch.as_tensor(job.y[idx])
    torch.testing.assert_close(log.loss[0, 0, idx], F.cross_entropy(out, y, reduction="none"))
    assert torch.equal(log.correct[0, 0, idx], out.argmax(1) == y)


@pytest.mark.parametrize("path,saves", [(train_batched, 2), (train_sequential, 4)])
def test_a_killed_job_resumes_its_log_whole(tmp_path, monkeypatch, path, saves):
    job = make_job(sizes=(20, 9), seeds=(5, 6))
    cfg = recipe(epochs=3, checkpoint_every=1)
    want = new_log(job, cfg)
    path(job, cfg, record=want)
    resume, got = tmp_path / "r.pt", new_log(job, cfg)
    with monkeypatch.context() as m:
        kill_after_saves(m, saves)
        with pytest.raises(Killed):
            path(job, cfg, resume=resume, record=new_log(job, cfg))
    path(job, cfg, resume=resume, record=got)
    np.testing.assert_array_equal(got.arrays()["correct"], want.arrays()["correct"])
    np.testing.assert_allclose(got.arrays()["loss"], want.arrays()["loss"], atol=1e-6)
