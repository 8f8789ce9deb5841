"""A real SIGTERM during training (what SLURM sends ahead of a time limit, on requeue and on preemption)
saves the resumable state at the end of the epoch in progress and stops; the next attempt resumes to
bitwise the weights of an uninterrupted run (CPU). The signal is sent to this process with os.kill."""

import logging
import os
import signal

import pytest
import torch
from test_train import make_job, recipe

import memgen.ensemble.batched as batched_mod
import memgen.ensemble.train as train_mod
from memgen.ensemble.batched import train_batched
from memgen.ensemble.train import train_sequential
from memgen.preempt import EXIT_CODE, SIGNALS, Preempted, StopFlag, stop_on_signals


def signal_during(monkeypatch, epoch: int, model_seed=None, sig=signal.SIGTERM):
    """Send `sig` to this process while the plan of `epoch` (of the model with `model_seed`) is drawn,
    i.e. in the middle of that epoch, as SLURM's signal would arrive."""
    real = train_mod.epoch_plan
    sent = {"n": 0}

    def plan_then_signal(seed, e, n, cfg):
        if e == epoch and (model_seed is None or seed == model_seed) and not sent["n"]:
            sent["n"] += 1
            os.kill(os.getpid(), sig)
        return real(seed, e, n, cfg)

    for mod in (train_mod, batched_mod):  # each path draws its epochs' plans
        monkeypatch.setattr(mod, "epoch_plan", plan_then_signal)


def assert_equal_weights(got, want):
    for g, w in zip(got, want, strict=True):
        for name in w["state_dict"]:
            assert torch.equal(g["state_dict"][name], w["state_dict"][name]), name


def test_stop_flag_catches_the_signal_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as stop:
        assert not stop
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop and stop.signal == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) is before
    assert set(SIGNALS) == {signal.SIGTERM, signal.SIGUSR1}
    assert EXIT_CODE == 75  # EX_TEMPFAIL: documented in docs/cluster.md and the SLURM profile


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
def test_sequential_stops_after_the_epoch_and_resumes_bitwise(tmp_path, monkeypatch, caplog, sig):
    job = make_job(sizes=(20, 9), seeds=(5, 6))
    cfg = recipe(epochs=4, checkpoint_every=0)  # no periodic saves: only the signal saves
    want = train_sequential(job, cfg)
    resume = tmp_path / "shard.resume.pt"
    with monkeypatch.context() as m:
        signal_during(m, epoch=1, model_seed=6, sig=sig)  # model 1, epoch 2 of 4
        with stop_on_signals() as stop, pytest.raises(Preempted, match="stopped after epoch 2/4 of model 2"):
            train_sequential(job, cfg, resume=resume, stop=stop)
    assert resume.exists()
    with caplog.at_level(logging.INFO, logger="memgen.ensemble"):
        got = train_sequential(job, cfg, resume=resume)
    assert "resumed: 1 of 2" in caplog.text and "model 1: resumed at epoch 2" in caplog.text
    assert_equal_weights(got, want)


def test_sequential_signal_in_a_models_last_epoch_stops_before_the_next_model(tmp_path, monkeypatch, caplog):
    job = make_job(sizes=(20, 9), seeds=(5, 6))
    cfg = recipe(epochs=3, checkpoint_every=0)
    want = train_sequential(job, cfg)
    resume = tmp_path / "shard.resume.pt"
    with monkeypatch.context() as m:
        signal_during(m, epoch=2, model_seed=5)  # model 0's last epoch: it finishes, model 1 waits
        with stop_on_signals() as stop, pytest.raises(Preempted, match="after model 1 of 2"):
            train_sequential(job, cfg, resume=resume, stop=stop)
    with caplog.at_level(logging.INFO, logger="memgen.ensemble"):
        got = train_sequential(job, cfg, resume=resume)
    assert "resumed: 1 of 2" in caplog.text
    assert_equal_weights(got, want)


def test_batched_stops_after_the_epoch_and_resumes_bitwise(tmp_path, monkeypatch, caplog):
    job = make_job(sizes=(20, 9), seeds=(5, 6))
    cfg = recipe(epochs=4, checkpoint_every=0)
    want = train_batched(job, cfg)
    resume = tmp_path / "shard.resume.pt"
    with monkeypatch.context() as m:
        signal_during(m, epoch=0)
        with stop_on_signals() as stop, pytest.raises(Preempted, match="epoch 1/4 of a shard of 2"):
            train_batched(job, cfg, resume, stop=stop)
    with caplog.at_level(logging.INFO, logger="memgen.ensemble"):
        got = train_batched(job, cfg, resume)
    assert "shard resumed at epoch 1" in caplog.text
    assert_equal_weights(got, want)


def test_signal_in_the_last_epoch_lets_training_finish(tmp_path, monkeypatch):
    """Nothing is left to resume: the outputs are written rather than a resume state."""
    job = make_job(sizes=(20, 9), seeds=(5, 6))
    cfg = recipe(epochs=2, checkpoint_every=0)
    want = train_batched(job, cfg)
    with monkeypatch.context() as m:
        signal_during(m, epoch=1)
        with stop_on_signals() as stop:
            got = train_batched(job, cfg, tmp_path / "r.pt", stop=stop)
        assert stop
    assert_equal_weights(got, want)


def test_an_unset_flag_changes_nothing(tmp_path):
    job = make_job(sizes=(20, 9), seeds=(5, 6))
    cfg = recipe(epochs=2, checkpoint_every=0)
    assert_equal_weights(train_sequential(job, cfg, stop=StopFlag()), train_sequential(job, cfg))
