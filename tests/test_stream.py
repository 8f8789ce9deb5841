"""The streaming loader (memgen.data.stream): it trains the same member as the in-memory path on the same
files; its batches are a function of (seed, epoch) whatever the number of workers, so a resumed member redraws
them; ImageNet's crops stay inside the image; every kind of bad folder fails naming the file and the fix."""

import logging
import math

import numpy as np
import pytest
import torch
from PIL import Image

import memgen.ensemble.resume as resume_mod
from memgen.data.index import build_index
from memgen.data.loaders import choose_loader, load_dataset
from memgen.data.stream import FolderImages, center_box, rrc_box
from memgen.ensemble.train import Job, predict, train_sequential
from memgen.errors import MemgenError
from memgen.recipe import TrainConfig


def write_folder(base, classes=3, per_class=7, test_per_class=2, size=(20, 14), fmt="JPEG", seed=0):
    """Smooth images with noise (JPEG-like content), a few of them portrait, in the imagefolder layout."""
    rng = np.random.default_rng(seed)
    suffix = ".jpg" if fmt == "JPEG" else ".png"
    for split, n in (("train", per_class), ("test", test_per_class)):
        for c in range(classes):
            d = base / split / f"class{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                w, h = size if i % 3 else size[::-1]
                yy, xx = np.mgrid[0:h, 0:w]
                img = np.stack([(xx * (c + 1) * 9) % 256, (yy * 11 + i * 30) % 256, (xx + yy) * 5 % 256], -1)
                img = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(d / f"img{i:03d}{suffix}", fmt)
    return base


def folder_job(ds, seeds=(3, 4)):
    rng = np.random.default_rng(1)
    n = len(ds.y_train)
    indices = [np.sort(rng.choice(n, size=s, replace=False)) for s in (15, 11)]
    return Job(ds.x_train, ds.y_train, indices, list(seeds), "cnn", ds.num_classes, ds.mean, ds.std)


def recipe(**kw):
    base = dict(
        epochs=3, batch_size=4, lr_peak=0.05, weight_decay=5e-3, crop_padding=1, flip=True,
        checkpoint_every=0, batched=False, model={"width": 4},
    )  # fmt: skip
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("stream") / "mine")


def load(folder, loader, rrc=False, workers=0):
    spec = {"kind": "imagefolder", "root": str(folder), "image_size": 12, "loader": loader,
            "loader_workers": workers}  # fmt: skip
    return load_dataset("mine", spec, folder.parent, random_resized_crop=rrc)


def test_stream_and_memory_train_the_same_member(folder):
    mem, st = load(folder, "memory"), load(folder, "stream", workers=2)
    assert isinstance(st.x_train, FolderImages) and isinstance(mem.x_train, np.ndarray)
    assert st.x_train.shape == mem.x_train.shape
    np.testing.assert_array_equal(st.x_train[np.arange(len(st.y_train))], mem.x_train)  # same pixels
    np.testing.assert_array_equal(st.mean, mem.mean)  # same normalisation (all images are the sample)
    np.testing.assert_array_equal(st.std, mem.std)
    cfg = recipe()  # random crops (padding 1) and flips: both paths take them from the same epoch plan
    want = train_sequential(folder_job(mem), cfg)
    got = train_sequential(folder_job(st), cfg)
    for a, b in zip(want, got, strict=True):
        for name in a["state_dict"]:
            assert torch.equal(a["state_dict"][name], b["state_dict"][name]), name
    x_test_mem, x_test_st = mem.tests["original"][0], st.tests["original"][0]
    logits_mem = predict(folder_job(mem), cfg, want[0]["state_dict"], x_test_mem, dtype=np.float32)
    logits_st = predict(folder_job(st), cfg, got[0]["state_dict"], x_test_st, dtype=np.float32)
    np.testing.assert_array_equal(logits_mem, logits_st)


def _epoch(images, seed, epoch, workers, rrc=True):
    order = np.random.default_rng([seed, epoch]).permutation(len(images))
    return torch.cat(list(images.batches(order, 5, seed, epoch, rrc, "cpu", workers)))


def test_batches_are_a_function_of_seed_and_epoch(folder):
    images = load(folder, "stream", rrc=True).x_train
    alone = _epoch(images, 7, 2, workers=0)
    assert alone.shape == (len(images), 3, 12, 12) and alone.dtype == torch.uint8
    assert torch.equal(alone, _epoch(images, 7, 2, workers=2))  # workers change nothing
    assert not torch.equal(alone, _epoch(images, 7, 3, workers=0))  # another epoch, other crops
    # without random-resized crops an epoch is the resized images in the plan's order
    order = np.random.default_rng([7, 2]).permutation(len(images))
    plain = _epoch(images, 7, 2, workers=0, rrc=False)
    np.testing.assert_array_equal(plain.numpy(), images.evaluating(False)[order])


def test_resumed_stream_member_equals_uninterrupted(folder, tmp_path, monkeypatch, caplog):
    ds = load(folder, "stream", rrc=True, workers=1)
    cfg = recipe(epochs=3, checkpoint_every=1, random_resized_crop=True, crop_padding=0)
    want = train_sequential(folder_job(ds), cfg)
    resume = tmp_path / "resume.pt"
    real, saves = resume_mod.save_resume, {"n": 0}

    class Killed(Exception):
        pass

    def save_then_die(*args, **kwargs):
        real(*args, **kwargs)
        saves["n"] += 1
        if saves["n"] == 4:  # model 0: epochs 1, 2, done; model 1: epoch 1, then killed
            raise Killed

    with monkeypatch.context() as m:
        m.setattr(resume_mod, "save_resume", save_then_die)
        with pytest.raises(Killed):
            train_sequential(folder_job(ds), cfg, resume=resume)
    with caplog.at_level(logging.INFO, logger="memgen.ensemble"):
        got = train_sequential(folder_job(ds), cfg, resume=resume)
    assert "model 1: resumed at epoch 1" in caplog.text
    for a, b in zip(want, got, strict=True):
        for name in a["state_dict"]:
            assert torch.equal(a["state_dict"][name], b["state_dict"][name]), name


@pytest.mark.parametrize("w,h", [(500, 375), (375, 500), (40, 400), (13, 11), (1, 1)])
def test_crop_boxes_stay_inside_the_image(w, h):
    rng = np.random.default_rng(0)
    for _ in range(200):
        left, top, right, bottom = rrc_box(w, h, rng)
        assert 0 <= left < right <= w and 0 <= top < bottom <= h
        area = (right - left) * (bottom - top) / (w * h)
        ratio = (right - left) / (bottom - top)
        # a drawn crop obeys the ranges (rounding aside); the fallback is a centre crop in the ratio range
        assert area <= 1 and (area >= 0.08 * 0.8 or min(w, h) < 20)
        assert 3 / 4 * 0.8 <= ratio <= 4 / 3 * 1.25 or min(w, h) < 20 or max(w, h) / min(w, h) > 4 / 3
    left, top, right, bottom = center_box(w, h)
    assert math.isclose(right - left, 0.875 * min(w, h)) and math.isclose(right - left, bottom - top)


def test_auto_loader_streams_large_folders_and_random_resized_crops():
    assert choose_loader({"image_size": 32}, 1_000, False) == "memory"
    assert choose_loader({"image_size": 224}, 1_281_167, False) == "stream"  # 193 GB in memory
    assert choose_loader({"image_size": 32}, 1_000, True) == "stream"
    assert choose_loader({"loader": "memory", "image_size": 224}, 1_281_167, False) == "memory"


def test_memory_loader_refuses_random_resized_crop(folder):
    with pytest.raises(MemgenError, match="loader is memory.*random_resized_crop"):
        load(folder, "memory", rrc=True)


# ---- bad input: one message naming the file (or folder) and the fix; nothing half-written --------------
def _index(base):
    return build_index("mine", {"kind": "imagefolder", "root": str(base), "image_size": 12, "min_side": 4})


def test_index_of_a_good_folder_records_every_image(tmp_path):
    base = write_folder(tmp_path / "mine", fmt="PNG")
    idx = _index(base)
    assert idx["n"] == 21 and idx["train_shape"].shape == (21, 2)
    assert {tuple(s) for s in idx["train_shape"]} == {(20, 14), (14, 20)}


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate", r"img001\.jpg is a truncated JPEG.*Fix: replace or remove the file"),
        ("garbage", r"img001\.jpg is not a readable image.*Fix: replace or remove"),
        ("text", r"notes\.txt is not an image.*Fix: move it out of the class folder"),
        ("empty", r"class folder .*train/class9 holds no images.*Fix: add its images or remove"),
        ("test_only", r"class folder\(s\) extra that .*train lacks.*Fix: add their training images"),
        ("small", r"img001\.jpg is 3 x 2 px, smaller than min_side = 4.*lower the dataset's min_side"),
    ],
)
def test_bad_folders_fail_naming_the_file(tmp_path, damage, message):
    base = write_folder(tmp_path / "mine")
    bad = base / "train" / "class1" / "img001.jpg"
    if damage == "truncate":
        data = bad.read_bytes()  # an interrupted copy: the header and part of the scan, no end marker
        bad.write_bytes(data[: data.index(b"\xff\xda") + 40])
    elif damage == "garbage":
        bad.write_bytes(b"\x00" * 300)
    elif damage == "text":
        (bad.parent / "notes.txt").write_text("labels checked by hand")
    elif damage == "empty":
        (base / "train" / "class9").mkdir()
    elif damage == "test_only":
        write_folder(tmp_path / "other", classes=1)
        (tmp_path / "other" / "test" / "class0").rename(base / "test" / "extra")
    elif damage == "small":
        Image.new("RGB", (3, 2)).save(bad, "JPEG")
    with pytest.raises(MemgenError, match=message):
        _index(base)


def test_a_file_corrupt_inside_fails_in_the_job_naming_it(tmp_path):
    """A PNG whose compressed data is damaged passes the index (header and IEND intact); the worker that
    decodes it ends the job with one line naming the file, not a DataLoader traceback. (A JPEG damaged the
    same way decodes to wrong pixels without an error: libjpeg only warns, and PIL does not pass it on.)"""
    base = write_folder(tmp_path / "mine", fmt="PNG")
    bad = base / "train" / "class0" / "img002.png"
    data = bytearray(bad.read_bytes())
    start = data.index(b"IDAT") + 4
    data[start + 8 : start + 40] = bytes(32)  # wreck the zlib stream inside the image data
    bad.write_bytes(bytes(data))
    _index(base)  # the index reads headers and end markers only: it passes
    images = FolderImages(base, [f"train/class0/img{i:03d}.png" for i in range(7)], 12, workers=1)
    with pytest.raises(MemgenError, match=r"img002\.png cannot be decoded.*Fix: replace or remove"):
        list(images.chunks(4))


def test_a_folder_without_test_gets_a_recorded_stratified_split(tmp_path):
    base = write_folder(tmp_path / "mine", classes=3, per_class=10, test_per_class=0, fmt="PNG")
    import shutil

    shutil.rmtree(base / "test")
    spec = {
        "kind": "imagefolder",
        "root": str(base),
        "image_size": 12,
        "test_fraction": 0.2,
        "loader": "memory",
    }
    idx = build_index("mine", {**spec, "min_side": 4})
    assert idx["n"] == 24 and len(idx["test_labels"]) == 6  # 2 of each class's 10
    np.testing.assert_array_equal(np.bincount(idx["test_labels"]), [2, 2, 2])
    assert not set(idx["train_path"]) & set(idx["test_path"])  # recorded: which file went where
    ds = load_dataset("mine", spec, tmp_path)  # the loader draws the same split
    assert len(ds.y_train) == 24 and len(ds.tests["original"][1]) == 6
    other = build_index("mine", {**spec, "split_seed": 1, "min_side": 4})
    assert set(other["test_path"]) != set(idx["test_path"])


def test_grey_folder_streams_one_channel_as_memory_holds_it(tmp_path):
    """A folder of grey JPEGs is one channel on both paths, with the same pixels and normalisation; its
    random-resized crops are grey too. A single colour image makes the folder RGB."""
    base = write_folder(tmp_path / "mine", per_class=5, test_per_class=1)
    for path in sorted(base.rglob("*.jpg")):
        Image.open(path).convert("L").save(path, "JPEG")
    mem, st = load(base, "memory"), load(base, "stream")
    assert st.x_train.channels == 1 and st.x_train.shape == mem.x_train.shape == (15, 1, 12, 12)
    np.testing.assert_array_equal(st.x_train[np.arange(15)], mem.x_train)
    np.testing.assert_array_equal(st.tests["original"][0][np.arange(3)], mem.tests["original"][0])
    np.testing.assert_array_equal(st.mean, mem.mean)
    assert st.mean.shape == (1,)
    assert _epoch(st.x_train, 7, 2, workers=0).shape == (15, 1, 12, 12)  # random-resized crops
    # a resume state of the same files read as three channels is another job's
    colour = FolderImages(base, st.x_train.files, 12, workers=0, channels=3)
    assert colour.digest() != st.x_train.digest() and colour[[0]].shape == (1, 3, 12, 12)
    write_folder(tmp_path / "extra", classes=1, per_class=1, test_per_class=0)
    (tmp_path / "extra" / "train" / "class0" / "img000.jpg").rename(base / "test" / "class0" / "rgb.jpg")
    assert load(base, "stream").x_train.shape == load(base, "memory").x_train.shape == (15, 3, 12, 12)
