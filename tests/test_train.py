"""Training: the batched (vmapped) shard equals members trained one at a time; the learning-rate
schedule by hand; a killed job resumes to the same weights; a BatchNorm model takes the sequential path.
Concurrent members equal members trained alone (bitwise), and the CUDA path's branches (bf16 autocast,
channels_last, torch.compile) run on CPU too, with no host synchronisation inside an epoch."""

import logging

import numpy as np
import pytest
import torch

import memgen.ensemble.batched as batched_mod
import memgen.ensemble.resume as resume_mod
import memgen.ensemble.train as train_mod
from memgen.ensemble.batched import can_batch, train_batched
from memgen.ensemble.common import Job, epoch_plan, lr_at, prepare
from memgen.ensemble.train import predict, train, train_sequential
from memgen.recipe import RUN_ONLY, TrainConfig


def make_job(arch="mlp", sizes=(20, 17, 12, 9), seeds=(11, 12, 13, 14), n=40, classes=4, shape=(1, 8, 8)):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    y = rng.integers(0, classes, size=n).astype(np.int64)
    # different subset sizes: with batch 8 the members take 3, 3, 2 and 2 steps, each with a short last batch
    indices = [np.sort(rng.choice(n, size=s, replace=False)) for s in sizes]
    mean = (x / 255).mean(axis=(0, 2, 3))
    std = (x / 255).std(axis=(0, 2, 3))
    return Job(x, y, indices, list(seeds), arch, classes, mean, std)


def recipe(**kw):
    base = dict(
        epochs=3,
        batch_size=8,
        lr_peak=0.1,
        lr_warmup=0.25,
        weight_decay=5e-3,
        crop_padding=1,  # exercises the per-example shifts
        flip=True,
        checkpoint_every=0,
        model={"hidden": 16, "width": 4},
    )
    return TrainConfig(**{**base, **kw})


def assert_same_weights(a: dict, b: dict, atol=1e-4):
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=atol, rtol=0, msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_batched_shard_equals_members_trained_alone(arch):
    job = make_job(arch)
    cfg = recipe()
    # the workflow batches MLPs only (vmapped convs were slower), but the batched path must be right for both
    assert can_batch(job, cfg, "cpu") == (arch == "mlp")
    batched = train_batched(job, cfg)
    alone = train_sequential(job, cfg)
    assert len(batched) == len(alone) == 4
    init = train_mod.init_model(job, 0, cfg).state_dict()
    for k in range(4):
        assert_same_weights(batched[k]["state_dict"], alone[k]["state_dict"])
        lb = predict(job, cfg, batched[k]["state_dict"], job.x)
        la = predict(job, cfg, alone[k]["state_dict"], job.x)
        assert lb.dtype == np.float16 and lb.shape == (40, 4)
        np.testing.assert_allclose(lb.astype(np.float32), la.astype(np.float32), atol=2e-2, rtol=1e-2)
    # not vacuous: training moved the weights, and members (different seeds and subsets) differ
    w = next(iter(init))
    assert (batched[0]["state_dict"][w] - init[w]).abs().max() > 1e-3
    assert (batched[0]["state_dict"][w] - batched[1]["state_dict"][w]).abs().max() > 1e-3


def test_train_dispatch_batched_on_cpu():
    job = make_job(sizes=(10, 10), seeds=(1, 2))
    assert can_batch(job, recipe(), "cpu")
    assert not can_batch(job, recipe(batched=False), "cpu")
    assert not can_batch(job, recipe(), "cuda")
    assert not can_batch(make_job(sizes=(10,), seeds=(1,)), recipe(), "cpu")  # one model: nothing to batch


def test_lr_schedule_by_hand():
    cfg = TrainConfig(lr_peak=1.0, lr_warmup=0.25)
    # total 8 steps, peak at step round(0.25 * 8) = 2: up 1/2, 2/2, then down (8 - s - 1) / 6
    got = [lr_at(s, 8, cfg) for s in range(8)]
    np.testing.assert_allclose(got, [0.5, 1.0, 5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6, 0.0])
    cfg = TrainConfig(lr_peak=0.4, lr_warmup=0.5)
    np.testing.assert_allclose([lr_at(s, 4, cfg) for s in range(4)], [0.2, 0.4, 0.2, 0.0])
    assert lr_at(0, 1, cfg) == pytest.approx(0.4)  # a single step runs at the peak


def test_epoch_plan_and_prepare():
    cfg = recipe(crop_padding=1, flip=True)
    o1, s1, f1 = epoch_plan(3, 2, 50, cfg)
    o2, s2, f2 = epoch_plan(3, 2, 50, cfg)
    np.testing.assert_array_equal(o1, o2), np.testing.assert_array_equal(s1, s2)
    assert sorted(o1) == list(range(50)) and s1.min() == 0 and s1.max() == 2 and 0 < f1.sum() < 50
    assert not np.array_equal(o1, epoch_plan(3, 3, 50, cfg)[0])  # each epoch its own order
    # a 1x1x3x3 image 0..8; shift (0, 2) of a 1-padded image moves it one row down and one column left
    img = torch.arange(9, dtype=torch.uint8).reshape(1, 1, 3, 3)
    mean, std = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1) / 255  # x / 255 / (1 / 255) = x
    out = prepare(img, mean, std, torch.tensor([[0, 2]]), torch.tensor([False]), pad=1)
    np.testing.assert_allclose(out[0, 0].numpy(), [[0, 0, 0], [1, 2, 0], [4, 5, 0]], atol=1e-5)
    out = prepare(img, mean, std, torch.tensor([[1, 1]]), torch.tensor([True]), pad=1)  # centre crop, flipped
    np.testing.assert_allclose(out[0, 0].numpy(), [[2, 1, 0], [5, 4, 3], [8, 7, 6]], atol=1e-5)


class Killed(Exception):
    """Stands in for SIGKILL: raised right after the n-th resume state reached the disk."""


def kill_after_saves(monkeypatch, n):
    real = resume_mod.save_resume
    count = {"saves": 0}

    def save_then_die(*args, **kwargs):
        real(*args, **kwargs)
        count["saves"] += 1
        if count["saves"] == n:
            raise Killed

    monkeypatch.setattr(resume_mod, "save_resume", save_then_die)


def test_batched_resume_gives_uninterrupted_weights(tmp_path, monkeypatch, caplog):
    job = make_job(sizes=(20, 9), seeds=(5, 6))
    cfg = recipe(epochs=4, checkpoint_every=1)
    want = train_batched(job, cfg)  # no resume file: uninterrupted
    resume = tmp_path / "shard.resume.pt"
    with monkeypatch.context() as m:
        kill_after_saves(m, 2)  # dies after epoch 2's state is saved
        with pytest.raises(Killed):
            train_batched(job, cfg, resume)
    with caplog.at_level(logging.INFO, logger="memgen.ensemble"):
        got = train_batched(job, cfg, resume)
    assert "resumed at epoch 2" in caplog.text
    for k in range(2):
        assert_same_weights(got[k]["state_dict"], want[k]["state_dict"], atol=1e-6)


def test_sequential_resume_gives_uninterrupted_weights(tmp_path, monkeypatch, caplog):
    job = make_job(sizes=(20, 9), seeds=(5, 6))
    cfg = recipe(epochs=3, checkpoint_every=1)
    want = train_sequential(job, cfg)
    resume = tmp_path / "shard.resume.pt"
    with monkeypatch.context() as m:
        # saves: model 0 after epochs 1, 2, then done; model 1 after epoch 1 -> die mid model 1
        kill_after_saves(m, 4)
        with pytest.raises(Killed):
            train_sequential(job, cfg, resume=resume)
    with caplog.at_level(logging.INFO, logger="memgen.ensemble"):
        got = train_sequential(job, cfg, resume=resume)
    assert "model 1: resumed at epoch 1" in caplog.text
    for k in range(2):
        assert_same_weights(got[k]["state_dict"], want[k]["state_dict"], atol=1e-6)


def test_resume_state_of_another_job_is_ignored(tmp_path, monkeypatch):
    job = make_job(sizes=(20, 9), seeds=(5, 6))
    cfg = recipe(epochs=3, checkpoint_every=1)
    resume = tmp_path / "shard.resume.pt"
    with monkeypatch.context() as m:
        kill_after_saves(m, 1)
        with pytest.raises(Killed):
            train_batched(job, cfg, resume)
    # same recipe, other seeds (e.g. the master seed changed before the rerun): start over
    other = make_job(sizes=(20, 9), seeds=(7, 8))
    got = train_batched(other, cfg, resume)
    want = train_batched(other, cfg)
    for k in range(2):
        assert_same_weights(got[k]["state_dict"], want[k]["state_dict"], atol=1e-6)
    # a batched state met by the sequential path (job moved to a GPU node) is not misread either
    with monkeypatch.context() as m:
        kill_after_saves(m, 1)
        with pytest.raises(Killed):
            train_batched(job, cfg, resume)
    got = train_sequential(job, cfg, resume=resume)
    want = train_sequential(job, cfg)
    for k in range(2):
        assert_same_weights(got[k]["state_dict"], want[k]["state_dict"], atol=1e-6)


def test_resnet18_with_batchnorm_trains_sequentially_on_cpu():
    # 8 images of 32x32: two members of 4 images each, batch 2 -> 2 steps per member
    job = make_job("resnet18", sizes=(4, 4), seeds=(0, 1), n=8, classes=3, shape=(3, 32, 32))
    job.indices = [np.arange(4), np.arange(4, 8)]
    cfg = recipe(epochs=1, batch_size=2, flip=True, crop_padding=2, model={})
    assert not can_batch(job, cfg, "cpu")  # BatchNorm running statistics cannot be vmapped
    out = train(job, cfg)
    assert len(out) == 2
    sd = out[0]["state_dict"]
    assert sd["bn1.num_batches_tracked"].item() == 2
    assert sd["bn1.running_mean"].abs().max() > 0  # updated from its initial zeros
    assert (sd["conv1.weight"] - out[1]["state_dict"]["conv1.weight"]).abs().max() > 0  # two seeds
    logits = predict(job, cfg, sd, job.x)
    assert logits.shape == (8, 3) and logits.dtype == np.float16 and np.isfinite(logits).all()


# ----------------------------------------------------------------------------------------------------
# concurrent members, the CUDA path's branches on CPU, host synchronisation
# ----------------------------------------------------------------------------------------------------
def assert_identical(a: list[dict], b: list[dict]):
    assert len(a) == len(b)
    for k, (ra, rb) in enumerate(zip(a, b, strict=True)):
        assert ra["state_dict"].keys() == rb["state_dict"].keys()
        for name, t in rb["state_dict"].items():
            assert torch.equal(ra["state_dict"][name], t), f"model {k} {name}"


@pytest.mark.parametrize("flags_on_cpu, g", [(False, 3), (True, 2)], ids=["fp32-3", "bf16-channels_last-2"])
def test_concurrent_members_equal_members_trained_alone(flags_on_cpu, g):
    # four members of different subset sizes (3, 3, 2, 2 steps) in groups of 3 (3 + 1) or 2 (2 + 2)
    job = make_job("cnn", shape=(3, 8, 8))
    alone = train_sequential(job, recipe(), flags_on_cpu=flags_on_cpu)
    together = train_sequential(job, recipe(concurrent_members=g), flags_on_cpu=flags_on_cpu)
    assert_identical(together, alone)
    w = "body.0.weight"
    assert (alone[0]["state_dict"][w] - alone[1]["state_dict"][w]).abs().max() > 1e-3  # not one model twice


def test_concurrent_resnet18_with_flags_on_cpu_equals_alone():
    # BatchNorm (running statistics, num_batches_tracked), bf16 autocast and channels_last, two at once
    job = make_job("resnet18", sizes=(4, 4), seeds=(0, 1), n=8, classes=3, shape=(3, 32, 32))
    cfg = recipe(epochs=1, batch_size=2, crop_padding=2, model={})
    alone = train(job, cfg, flags_on_cpu=True)
    assert_identical(
        train(job, recipe(**{**cfg.__dict__, "concurrent_members": 2}), flags_on_cpu=True), alone
    )
    assert alone[0]["state_dict"]["bn1.num_batches_tracked"].item() == 2


@pytest.mark.parametrize("flags_on_cpu", [False, True])
def test_flags_on_cpu_switch_on_autocast_and_channels_last(monkeypatch, flags_on_cpu):
    seen = []
    real_init = train_mod.init_model

    def init_with_hook(job, k, cfg):
        model = real_init(job, k, cfg)
        conv = model.body[0]
        conv.register_forward_hook(lambda mod, inp, out: seen.append((inp[0], out)))
        return model

    monkeypatch.setattr(train_mod, "init_model", init_with_hook)
    job = make_job("cnn", sizes=(8,), seeds=(1,), shape=(3, 8, 8))  # 1 channel: channels_last is contiguous
    out = train(job, recipe(epochs=1), flags_on_cpu=flags_on_cpu)
    x, y = seen[0]
    assert x.is_contiguous(memory_format=torch.channels_last) == flags_on_cpu
    assert y.dtype == (torch.bfloat16 if flags_on_cpu else torch.float32)
    assert all(t.dtype == torch.float32 for t in out[0]["state_dict"].values())  # weights stay fp32
    # the flags act only where the recipe asks for them
    seen.clear()
    train(job, recipe(epochs=1, bf16=False, channels_last=False), flags_on_cpu=flags_on_cpu)
    assert seen[0][1].dtype == torch.float32 and seen[0][0].is_contiguous()


@pytest.mark.parametrize(
    "saves, resumed",
    [
        (2, ["model 0: resumed at epoch 2", "model 1: resumed at epoch 2"]),  # killed inside the first group
        (4, ["resumed: 2 of 3 model(s) already trained", "model 2: resumed at epoch 1"]),  # inside the second
    ],
)
def test_concurrent_resume_gives_uninterrupted_weights(tmp_path, monkeypatch, caplog, saves, resumed):
    job = make_job("cnn", sizes=(20, 9, 12), seeds=(5, 6, 7))
    cfg = recipe(epochs=3, checkpoint_every=1, concurrent_members=2)
    want = train_sequential(job, recipe(epochs=3, checkpoint_every=1))  # one at a time, uninterrupted
    resume = tmp_path / "shard.resume.pt"
    with monkeypatch.context() as m:
        # saves: group {0, 1} after epochs 1, 2, then done; group {2} after epoch 1, 2, then done
        kill_after_saves(m, saves)
        with pytest.raises(Killed):
            train_sequential(job, cfg, resume=resume)
    with caplog.at_level(logging.INFO, logger="memgen.ensemble"):
        got = train_sequential(job, cfg, resume=resume)
    for line in resumed:
        assert line in caplog.text
    assert_identical(got, want)


def test_resume_state_of_another_group_size_is_ignored(tmp_path, monkeypatch, caplog):
    job = make_job("cnn", sizes=(20, 9), seeds=(5, 6))
    resume = tmp_path / "shard.resume.pt"
    with monkeypatch.context() as m:
        kill_after_saves(m, 1)
        with pytest.raises(Killed):
            train_sequential(job, recipe(checkpoint_every=1, concurrent_members=2), resume=resume)
    # the rerun trains one at a time: a state of two models in flight is not this path's, start over
    with caplog.at_level(logging.INFO, logger="memgen.ensemble"):
        got = train_sequential(job, recipe(checkpoint_every=1), resume=resume)
    assert "ignoring" in caplog.text and "resumed" not in caplog.text
    assert_identical(got, train_sequential(job, recipe()))


def test_run_only_settings_leave_a_members_identity_alone():
    assert {"compile", "concurrent_members"} <= set(RUN_ONLY)
    assert TrainConfig().compile is False and TrainConfig().concurrent_members == 1  # defaults
    run = TrainConfig.from_dict({"compile": True, "concurrent_members": 4, "checkpoint_every": 1})
    for device in ("cpu", "cuda"):
        assert run.digest(device) == TrainConfig().digest(device)
    job = make_job(sizes=(10, 10), seeds=(1, 2))
    keys = {resume_mod.resume_key(job, run, kind) for kind in ("sequential", "concurrent2", "batched")}
    assert len(keys) == 3  # the state's shape depends on the path: each its own key


SYNCS = ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__")


def count_host_reads(monkeypatch, fn):
    """Calls of the Tensor methods that read a device tensor back to the host (each one waits for the GPU)."""
    count = {"n": 0}
    for name in SYNCS:
        real = getattr(torch.Tensor, name)

        def counted(self, *a, _real=real, **kw):
            count["n"] += 1
            return _real(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counted)
    try:
        fn()
    finally:
        monkeypatch.undo()
    return count["n"]


def test_no_host_synchronisation_inside_the_step_loop(monkeypatch):
    # 3x the steps per epoch, same number of reads: none of them is per step (on CPU nothing waits, but the
    # same reads of a CUDA tensor would stall the GPU; tests/test_cuda.py checks it with CUDA's sync debug)
    cfg = recipe(epochs=2, concurrent_members=2)
    few = make_job("cnn", sizes=(16, 12, 8), seeds=(1, 2, 3), n=60)  # 2, 2, 1 steps per epoch
    many = make_job("cnn", sizes=(48, 36, 24), seeds=(1, 2, 3), n=60)  # 6, 5, 3
    n_few = count_host_reads(monkeypatch, lambda: train_sequential(few, cfg, flags_on_cpu=True))
    n_many = count_host_reads(monkeypatch, lambda: train_sequential(many, cfg, flags_on_cpu=True))
    assert 0 < n_few == n_many
    assert n_few <= 2 * 2 + 3 * 20  # per epoch of each group, and copying the trained weights out


@pytest.mark.slow  # compiles C++ on a cold inductor cache: 13-18 s on 2 cores
def test_torch_compile_gives_the_same_member_as_eager():
    # The compile branch on CPU. Measured on 2 cores: 13-14 s with a cold inductor cache (it compiles C++),
    # 2-4 s warm, for this MLP with one batch shape (the CNN with a short last batch: 32 s cold).
    job = make_job("mlp", sizes=(16, 8), seeds=(5, 6))
    got = train_sequential(job, recipe(epochs=2, compile=True))
    want = train_sequential(job, recipe(epochs=2))
    for k in range(2):  # inductor fuses differently: the same member within float rounding, not bitwise
        assert_same_weights(got[k]["state_dict"], want[k]["state_dict"], atol=1e-5)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_holdout_skips_one_point_in_the_partners_batches(arch):
    """Job.holdout: both paths agree, a holdout outside the subset changes nothing, and a paired
    leave-one-out model is closer to its full partner than one trained on a fresh order of N - 1 points."""
    n, seed, j = 40, 7, 5
    base = make_job(arch, sizes=(n,), seeds=(seed,), n=n)
    every = [np.arange(n)] * 3
    rest = np.delete(np.arange(n), j)
    job = Job(
        base.x, base.y, [*every, rest], [seed] * 4, arch, 4, base.mean, base.std, holdout=[-1, j, n + 1, -1]
    )
    cfg = recipe(epochs=4)
    alone = train_sequential(job, cfg)
    for k, m in enumerate(train_batched(job, cfg)):
        assert_same_weights(m["state_dict"], alone[k]["state_dict"])
    full, paired, outside, fresh = (m["state_dict"] for m in alone)
    assert_same_weights(outside, full, atol=0)  # the skipped index is not in any batch: nothing changes

    def distance(a, b):
        return sum(float((a[w] - b[w]).norm()) for w in a if a[w].is_floating_point())

    assert 0 < distance(paired, full) < 0.5 * distance(fresh, full)


@pytest.mark.parametrize("chunk_bytes", [None, 1])
def test_batched_mlp_without_augmentation_equals_members_trained_alone(monkeypatch, chunk_bytes):
    """The MLP's written-out step on images normalised once (no crop, no flip: digits' and Fashion-MNIST's
    recipe), its SGD over the whole stack or member by member, gives each member its weights alone."""
    if chunk_bytes is not None:  # every member's tensors updated on their own, as a large MLP's are
        monkeypatch.setattr(batched_mod, "SGD_CHUNK_BYTES", chunk_bytes)
    job = make_job()
    cfg = recipe(crop_padding=0, flip=False)
    shard = batched_mod._Shard(job, cfg)
    assert shard.layers == ["body.1", "fc"] and shard.xf is not None and shard.xf.shape == (40, 64)
    batched = train_batched(job, cfg)
    alone = train_sequential(job, cfg)
    for k in range(4):
        assert_same_weights(batched[k]["state_dict"], alone[k]["state_dict"])


def test_mlp_gradients_by_hand_equal_autograds():
    """_Shard._mlp_grads (batched matmuls, backward by hand) against torch.func's vmapped autograd on the
    same step, with skipped rows (weight 0) and a member whose rows are all skipped."""
    from torch.func import grad_and_value, vmap

    job = make_job(shape=(3, 4, 4))
    shard = batched_mod._Shard(job, recipe(model={"hidden": 16}))
    plan = shard.plan(0)
    xs, ys, ws = shard.inputs(plan, 0), plan.y[0], plan.wts[0].clone()
    ws[1, :3], ws[2] = 0, 0
    loss, hits, _, _ = shard._mlp_grads(xs, ys, ws)
    want, (want_loss, want_hits) = vmap(grad_and_value(shard._loss, has_aux=True))(shard.params, xs, ys, ws)
    assert_same_weights(shard.grads, want, atol=1e-6)
    torch.testing.assert_close(loss, want_loss, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(hits, want_hits)
    assert (
        float(shard.grads["fc.weight"][2].abs().max()) == 0
        and float(shard.grads["fc.weight"][1].abs().max()) > 0
    )


def test_shard_epoch_plan_holds_each_members_batches_in_order():
    """Step s of member k in the shard's [steps, K, B] plan is its epoch_plan's order[s * B : (s + 1) * B]
    (as trained alone); padding and the held-out point weigh 0, and a finished member steps at lr 0."""
    base = make_job(sizes=(20, 9), seeds=(5, 6))
    held = int(base.indices[0][3])
    job = Job(base.x, base.y, base.indices, base.seeds, "mlp", 4, base.mean, base.std, holdout=[held, -1])
    cfg = recipe(batch_size=8)
    plan = batched_mod._Shard(job, cfg).plan(1)
    assert plan.idx.shape == (3, 2, 8) and plan.full == [True, True, False]
    for k in range(2):
        order = job.indices[k][epoch_plan(job.seeds[k], 1, len(job.indices[k]), cfg)[0]]
        got = plan.idx[:, k].reshape(-1)[: len(order)].numpy()
        np.testing.assert_array_equal(got, order)
        assert plan.wts[:, k].reshape(-1)[len(order) :].sum() == 0  # padding
        np.testing.assert_array_equal(plan.wts[:, k].reshape(-1)[: len(order)].numpy(), order != held)
        np.testing.assert_array_equal(plan.y[:, k].reshape(-1)[: len(order)].numpy(), job.y[order])
    assert plan.active[2].tolist() == [True, False] and plan.lrs[2, 1] == 0 and plan.lrs[2, 0] > 0
