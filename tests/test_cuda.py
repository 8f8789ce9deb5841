"""The CUDA path on a GPU: a resnet18 member with bf16 autocast and channels_last, concurrent members on
their own streams (equal to members trained alone within float tolerance, and after a resume), and no
host synchronisation inside an epoch. Skipped where no GPU is visible (CI needs none);
benchmarks/device_check.sh runs them with `pytest -m cuda`.
"""

import logging
import warnings

import numpy as np
import pytest
import torch
from test_train import Killed, kill_after_saves, make_job, recipe

import memgen.ensemble.train as train_mod
from memgen.ensemble.train import predict, train

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU visible"),
]


def cifar_job(n=1024, members=2, per_member=512):
    job = make_job("resnet18", sizes=(per_member,) * members, seeds=tuple(range(members)), n=n, classes=10)
    rng = np.random.default_rng(1)
    job.x = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)  # CIFAR-shaped
    job.mean, job.std = (job.x / 255).mean(axis=(0, 2, 3)), (job.x / 255).std(axis=(0, 2, 3))
    return job


def cifar_recipe(**kw):
    return recipe(**{**dict(epochs=1, batch_size=128, crop_padding=4, flip=True, model={}), **kw})


def assert_close_to_alone(got: list[dict], want: list[dict], job, cfg, share=0.05):
    """Each tensor differs from the member trained alone by at most `share` of how far training moved it:
    float rounding (cuDNN picks kernels per run) stays far below that, a mixed-up member far above."""
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        init = train_mod.init_model(job, k, cfg).state_dict()
        for name, t in w["state_dict"].items():
            if not t.is_floating_point():
                assert torch.equal(g["state_dict"][name], t), f"model {k} {name}"
                continue
            moved = (t - init[name]).float().norm()
            diff = (g["state_dict"][name] - t).float().norm()
            assert diff <= share * moved + 1e-6, f"model {k} {name}: {diff:.3g} vs moved {moved:.3g}"


def test_resnet18_member_trains_an_epoch_with_bf16_and_channels_last(monkeypatch):
    seen = []
    real_init = train_mod.init_model

    def init_with_hook(job, k, cfg):
        model = real_init(job, k, cfg)
        model.conv1.register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out)))
        return model

    monkeypatch.setattr(train_mod, "init_model", init_with_hook)
    job = cifar_job(n=2048, members=1, per_member=2048)
    cfg = cifar_recipe(batch_size=256)
    out = train(job, cfg, "cuda")
    x, y = seen[0]
    assert x.is_cuda and x.is_contiguous(memory_format=torch.channels_last) and y.dtype == torch.bfloat16
    sd = out[0]["state_dict"]
    assert all(t.device.type == "cpu" and torch.isfinite(t.float()).all() for t in sd.values())
    assert sd["bn1.num_batches_tracked"].item() == 8  # 2048 / 256 steps
    init = real_init(job, 0, cfg).state_dict()
    assert (sd["conv1.weight"] - init["conv1.weight"]).abs().max() > 1e-4
    logits = predict(job, cfg, sd, job.x[:300], "cuda")
    assert logits.shape == (300, 10) and np.isfinite(logits.astype(np.float32)).all()


def test_concurrent_members_on_cuda_match_members_trained_alone():
    job = cifar_job(n=1024, members=3, per_member=512)
    alone = train(job, cifar_recipe(epochs=2), "cuda")
    together = train(job, cifar_recipe(epochs=2, concurrent_members=2), "cuda")  # groups {0, 1}, {2}
    assert_close_to_alone(together, alone, job, cifar_recipe())


def test_concurrent_resume_on_cuda(tmp_path, monkeypatch, caplog):
    job = cifar_job(n=1024, members=2, per_member=512)
    cfg = cifar_recipe(epochs=3, checkpoint_every=1, concurrent_members=2)
    want = train(job, cifar_recipe(epochs=3), "cuda")
    resume = tmp_path / "shard.resume.pt"
    with monkeypatch.context() as m:
        kill_after_saves(m, 1)  # after epoch 1 of both
        with pytest.raises(Killed):
            train(job, cfg, "cuda", resume)
    with caplog.at_level(logging.INFO, logger="memgen.ensemble"):
        got = train(job, cfg, "cuda", resume)
    assert "model 0: resumed at epoch 1" in caplog.text and "model 1: resumed at epoch 1" in caplog.text
    assert_close_to_alone(got, want, job, cfg)


def _syncs(fn) -> int:
    """Host synchronisations CUDA's sync debug mode reports while fn runs."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


@pytest.mark.parametrize("concurrent", [1, 2])
def test_no_host_synchronisation_inside_the_step_loop_on_cuda(concurrent):
    # 4 and 16 steps per epoch: the same number of synchronisations, so none of them is per step
    cfg = cifar_recipe(epochs=2, batch_size=32, concurrent_members=concurrent)
    few = cifar_job(n=1024, members=2, per_member=128)
    many = cifar_job(n=1024, members=2, per_member=512)
    train(few, cfg, "cuda")  # warm-up: cuDNN autotuning, lazy CUDA initialisation
    n_few, n_many = _syncs(lambda: train(few, cfg, "cuda")), _syncs(lambda: train(many, cfg, "cuda"))
    assert n_few == n_many, (n_few, n_many)


def test_gpu_jpeg_decode_matches_the_cpu_path(tmp_path):
    """nvJPEG + GPU resize (memgen.data.stream) against PIL on the CPU: the same crops, pixels within JPEG
    decoders' and resamplers' differences (a wrong crop or channel order would be far off)."""
    from test_stream import write_folder

    from memgen.data.stream import FolderImages

    base = write_folder(tmp_path / "mine", classes=2, per_class=8, size=(96, 72))
    files = [str(p.relative_to(base)) for p in sorted((base / "train").rglob("*.jpg"))]
    order = np.arange(len(files))
    for rrc in (False, True):
        cpu = FolderImages(base, files, 32, workers=1, gpu_decode=False)
        gpu = FolderImages(base, files, 32, workers=1, gpu_decode=True)
        a = torch.cat(list(cpu.batches(order, 5, 3, 0, rrc, "cuda")))
        b = torch.cat(list(gpu.batches(order, 5, 3, 0, rrc, "cuda")))
        assert a.shape == b.shape and b.device.type == "cuda"
        assert (a.float() - b.float()).abs().mean() < 6, rrc
