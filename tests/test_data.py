"""Dataset loaders: the fixed digits split, CIFAR-10/100 and image folders read from disk as written
here in their published on-disk formats, the offline failure message, and the long-tail generator."""

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from memgen.data.loaders import load_dataset
from memgen.data.longtail import generate
from memgen.errors import MemgenError


# --------------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------------
def test_digits_split_is_fixed_and_sized():
    a = load_dataset("digits", {"test_fraction": 0.2, "split_seed": 0})
    b = load_dataset("digits", {"test_fraction": 0.2, "split_seed": 0})
    # 1,797 images, 20 % test: ceil(359.4) = 360 test, 1,437 train
    assert a.x_train.shape == (1437, 1, 8, 8) and a.x_train.dtype == np.uint8
    assert a.tests["original"][0].shape == (360, 1, 8, 8)
    assert a.y_train.dtype == np.int64 and a.num_classes == 10
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    np.testing.assert_array_equal(a.tests["original"][0], b.tests["original"][0])
    # 0..16 pixel values spread over 0..255: 16 -> 255, 8 -> round(127.5) = 128
    assert a.x_train.max() == 255 and set(np.unique(a.x_train)) <= {round(v * 255 / 16) for v in range(17)}
    # stratified: every class in both parts, about 20 % of each in test
    counts = np.bincount(a.tests["original"][1], minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    other = load_dataset("digits", {"test_fraction": 0.2, "split_seed": 1})
    assert not np.array_equal(a.y_train, other.y_train)


# --------------------------------------------------------------------------------------------------
# CIFAR in torchvision's on-disk format
# --------------------------------------------------------------------------------------------------
def _images(n, offset):
    """n distinct images whose pixel (c, h, w) encodes the index, so layout mistakes show."""
    i = np.arange(n)[:, None, None, None] + offset
    c = np.arange(3)[None, :, None, None]
    h = np.arange(32)[None, None, :, None]
    w = np.arange(32)[None, None, None, :]
    return ((i * 7 + c * 50 + h * 3 + w) % 256).astype(np.uint8)  # [n, 3, 32, 32]


def _pickle(path: Path, obj: dict) -> None:
    # The release files are Python 2 pickles whose str keys load as str under encoding="latin1"
    # (what torchvision passes); a Python 3 pickle with str keys loads the same way.
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _write_cifar10(root: Path, per_batch=3, n_test=4):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    xs, ys = [], []
    for b in range(5):
        x = _images(per_batch, offset=b * per_batch)
        y = [(b * per_batch + j) % 10 for j in range(per_batch)]
        _pickle(d / f"data_batch_{b + 1}", {"data": x.reshape(per_batch, 3072), "labels": y})
        xs.append(x), ys.extend(y)
    x_te = _images(n_test, offset=100)
    y_te = [9 - j for j in range(n_test)]
    _pickle(d / "test_batch", {"data": x_te.reshape(n_test, 3072), "labels": y_te})
    _pickle(d / "batches.meta", {"label_names": [f"c{j}" for j in range(10)]})
    return np.concatenate(xs), np.array(ys), x_te, np.array(y_te)


def test_cifar10_round_trip(tmp_path):
    x, y, x_te, y_te = _write_cifar10(tmp_path / "cifar10")
    ds = load_dataset("cifar10", {}, tmp_path)
    assert ds.num_classes == 10 and ds.name == "cifar10"
    assert ds.x_train.shape == (15, 3, 32, 32) and ds.x_train.dtype == np.uint8
    np.testing.assert_array_equal(ds.x_train, x)  # batches 1..5 in order, CHW layout
    np.testing.assert_array_equal(ds.y_train, y)
    assert ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(ds.tests["original"][0], x_te)
    np.testing.assert_array_equal(ds.tests["original"][1], [9, 8, 7, 6])
    assert ds.x_train[1, 2, 5, 4] == (1 * 7 + 2 * 50 + 5 * 3 + 4) % 256  # image 1, channel 2, row 5, col 4


def test_cifar10_root_from_spec_and_new_test_set(tmp_path):
    root = tmp_path / "elsewhere"
    _write_cifar10(root)
    new = root / "cifar10.1"
    new.mkdir()
    x_new = _images(2, offset=50).transpose(0, 2, 3, 1)  # CIFAR-10.1 ships HWC uint8
    np.save(new / "cifar10.1_v6_data.npy", x_new)
    np.save(new / "cifar10.1_v6_labels.npy", np.array([3, 1]))
    ds = load_dataset(
        "cifar10", {"root": str(root), "new_test_set": {"name": "cifar10.1"}}, tmp_path / "unused"
    )
    assert set(ds.tests) == {"original", "cifar10.1"}
    np.testing.assert_array_equal(ds.tests["cifar10.1"][0], _images(2, offset=50))
    np.testing.assert_array_equal(ds.tests["cifar10.1"][1], [3, 1])


def test_cifar100_round_trip(tmp_path):
    d = tmp_path / "cifar100" / "cifar-100-python"
    d.mkdir(parents=True)
    x, x_te = _images(6, 0), _images(3, 40)
    fine, fine_te = [0, 99, 42, 7, 7, 50], [98, 1, 2]
    _pickle(d / "train", {"data": x.reshape(6, 3072), "fine_labels": fine, "coarse_labels": [0] * 6})
    _pickle(d / "test", {"data": x_te.reshape(3, 3072), "fine_labels": fine_te, "coarse_labels": [1] * 3})
    _pickle(d / "meta", {"fine_label_names": [f"f{j}" for j in range(100)], "coarse_label_names": ["a"] * 20})
    ds = load_dataset("cifar100", {}, tmp_path)
    assert ds.num_classes == 100
    np.testing.assert_array_equal(ds.x_train, x)
    np.testing.assert_array_equal(ds.y_train, fine)  # fine labels, not coarse
    np.testing.assert_array_equal(ds.tests["original"][0], x_te)
    np.testing.assert_array_equal(ds.tests["original"][1], fine_te)


def test_missing_cifar_names_path_and_how_to_get_it(tmp_path):
    with pytest.raises(MemgenError) as e:
        load_dataset("cifar10", {}, tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "cifar10" / "cifar-10-batches-py") in msg
    assert "download=True" in msg and "Fix:" in msg and "datasets.cifar10.root" in msg


def test_partly_present_cifar_names_the_missing_file(tmp_path):
    _write_cifar10(tmp_path / "cifar10")
    missing = tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_4"
    missing.unlink()
    with pytest.raises(MemgenError, match="data_batch_4"):
        load_dataset("cifar10", {}, tmp_path)


def test_missing_cifar_meta_file_is_a_memgen_error(tmp_path):
    _write_cifar10(tmp_path / "cifar10")
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(MemgenError, match="batches.meta"):
        load_dataset("cifar10", {}, tmp_path)


def test_missing_new_test_set_is_named(tmp_path):
    _write_cifar10(tmp_path / "cifar10")
    with pytest.raises(MemgenError, match="cifar10.1_v6_data.npy"):
        load_dataset("cifar10", {"new_test_set": {"name": "cifar10.1"}}, tmp_path)


def test_unknown_kind(tmp_path):
    with pytest.raises(MemgenError, match="unknown dataset kind 'svhn'.*Fix: use one of digits, longtail"):
        load_dataset("svhn", {}, tmp_path)


def test_every_kind_has_a_loader():
    from memgen.data.loaders import loaders
    from memgen.kinds import KINDS

    assert sorted(loaders()) == sorted(KINDS)


# --------------------------------------------------------------------------------------------------
# image folders
# --------------------------------------------------------------------------------------------------
def _png(path: Path, rgb, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, rgb).save(path)


def test_imagefolder(tmp_path):
    base = tmp_path / "mine"
    _png(base / "train" / "bird" / "a.png", (255, 0, 0))
    _png(base / "train" / "bird" / "b.png", (0, 255, 0))
    _png(base / "train" / "cat" / "c.png", (0, 0, 255))
    (base / "train" / "cat" / ".DS_Store").write_text("hidden files are never data")
    _png(base / "test" / "cat" / "d.png", (10, 20, 30))
    ds = load_dataset("mine", {"kind": "imagefolder", "image_size": 16}, tmp_path)
    assert ds.num_classes == 2  # classes sorted: bird = 0, cat = 1
    assert ds.x_train.shape == (3, 3, 16, 16) and ds.x_train.dtype == np.uint8
    np.testing.assert_array_equal(ds.y_train, [0, 0, 1])
    # a uniform image stays uniform when resized; channels first
    np.testing.assert_array_equal(ds.x_train[0, :, 7, 7], [255, 0, 0])
    np.testing.assert_array_equal(ds.x_train[2, :, 0, 15], [0, 0, 255])
    x_te, y_te = ds.tests["original"]
    np.testing.assert_array_equal(y_te, [1])
    np.testing.assert_array_equal(x_te[0, :, 3, 3], [10, 20, 30])


def test_imagefolder_with_an_imagenetv2_style_new_test_set(tmp_path):
    base = tmp_path / "imagenet"
    _png(base / "train" / "n01" / "a.png", (255, 0, 0))
    _png(base / "train" / "n02" / "b.png", (0, 255, 0))
    _png(base / "test" / "n02" / "c.png", (0, 0, 255))
    spec = {"kind": "imagenet", "image_size": 8, "new_test_set": {"name": "imagenetv2", "dir": "v2"}}
    with pytest.raises(MemgenError, match=r"imagenet/v2"):  # named, with ImageNetV2's layout as the fix
        load_dataset("imagenet", spec, tmp_path)
    _png(base / "v2" / "1" / "x.png", (0, 255, 0))  # folder "1" = the second class in sorted order (n02)
    _png(base / "v2" / "0" / "y.png", (255, 0, 0))
    ds = load_dataset("imagenet", spec, tmp_path)
    x, y = ds.tests["imagenetv2"]
    np.testing.assert_array_equal(y, [0, 1])
    np.testing.assert_array_equal(x[:, :, 4, 4], [[255, 0, 0], [0, 255, 0]])


def test_imagefolder_missing(tmp_path):
    with pytest.raises(MemgenError, match=r"mine/train"):
        load_dataset("mine", {"kind": "imagefolder"}, tmp_path)
    (tmp_path / "mine" / "train" / "a").mkdir(parents=True)
    (tmp_path / "mine" / "test").mkdir()
    with pytest.raises(MemgenError, match="holds no images"):
        load_dataset("mine", {"kind": "imagefolder"}, tmp_path)


# --------------------------------------------------------------------------------------------------
# long-tail generator
# --------------------------------------------------------------------------------------------------
def test_longtail_ground_truth():
    ds = generate(
        n_classes=3,
        subpops_per_class=4,
        zipf_a=1.3,
        max_size=10,
        n_flipped=2,
        n_test_per_subpop=2,
        n_duplicates=5,
    )
    n, m = len(ds.y_train), len(ds.tests["original"][1])
    assert ds.x_train.shape == (n, 1, 8, 8) and ds.x_train.dtype == np.uint8
    assert m == 3 * 4 * 2
    t = ds.truth
    assert t["subpop"].shape == t["subpop_size"].shape == t["flipped"].shape == (n,)
    assert t["flipped"].sum() == 2
    assert t["test_subpop"].shape == (m,) and t["duplicates"].shape == (5, 2)
    # each sub-population's recorded size is how many training points it has
    np.testing.assert_array_equal(np.bincount(t["subpop"])[t["subpop"]], t["subpop_size"])
    # Zipf sizes over ranks 1..4, each rank used once per class: round(10 / r ** 1.3) = 10, 4, 2, 2
    assert n == 3 * (10 + 4 + 2 + 2)
    assert sorted(np.bincount(t["subpop"])) == sorted([10, 4, 2, 2] * 3)
    # labels: flipped points differ from their sub-population's class, the others match it
    cls = t["subpop"] // 4
    assert (ds.y_train[t["flipped"]] != cls[t["flipped"]]).all()
    np.testing.assert_array_equal(ds.y_train[~t["flipped"]], cls[~t["flipped"]])


def test_longtail_planted_duplicates_are_near_copies():
    ds = generate(seed=3)
    x_tr = ds.x_train.reshape(len(ds.x_train), -1).astype(int)
    x_te = ds.tests["original"][0].reshape(len(ds.tests["original"][0]), -1).astype(int)
    dup = ds.truth["duplicates"]
    gap = np.abs(x_te[dup[:, 0]] - x_tr[dup[:, 1]])
    assert gap.max() <= 3  # 0.02 noise on a ~[-4, 4] range quantised to 256 levels
    # ... while the closest non-planted training image of a duplicate is far away
    dist = np.abs(x_te[dup[:, 0], None, :] - x_tr[None, :, :]).mean(-1)
    dist[np.arange(len(dup)), dup[:, 1]] = np.inf
    assert dist.min() > 5 * gap.mean(-1).max() + 5
    np.testing.assert_array_equal(ds.tests["original"][1][dup[:, 0]], ds.y_train[dup[:, 1]])
    assert not ds.truth["flipped"][dup[:, 1]].any()  # a duplicate of a mislabeled point would be ambiguous
    # same seed, same data
    again = generate(seed=3)
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    np.testing.assert_array_equal(again.truth["duplicates"], dup)


def _grey(path: Path, value: int, mode="L", size=(12, 10), fmt=None):
    """A uniform grey image stored in PIL mode `mode` (L, 1, I;16, or P with a palette of greys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("L", size, value)
    if mode == "P":
        img = img.convert("P")  # PIL's default palette: its first 256 entries' greys are what L holds
        img.putpalette([v for g in range(256) for v in (g, g, g)])
    elif mode != "L":
        img = img.convert(mode)
    img.save(path, fmt)


def test_imagefolder_of_grey_images_stays_one_channel(tmp_path):
    """Grey files (mode L as PNG and JPEG, 1-bit, a palette of greys) are read as one channel, as
    Fashion-MNIST's are: an MLP's first layer 16 x 16 = 256 wide, not 768. One colour image in any split
    makes the whole folder RGB, its grey images then equal in all three channels."""
    from memgen.ensemble.models import build_model

    base = tmp_path / "mine"
    _grey(base / "train" / "bird" / "a.png", 200)
    _grey(base / "train" / "bird" / "b.jpg", 90, fmt="JPEG")
    _grey(base / "train" / "cat" / "c.png", 255, mode="1")
    _grey(base / "train" / "cat" / "d.png", 30, mode="P")
    _grey(base / "test" / "cat" / "e.png", 60)
    ds = load_dataset("mine", {"kind": "imagefolder", "image_size": 16}, tmp_path)
    assert ds.x_train.shape == (4, 1, 16, 16) and ds.tests["original"][0].shape == (1, 1, 16, 16)
    assert ds.mean.shape == ds.std.shape == (1,)
    np.testing.assert_array_equal(ds.x_train[[0, 2, 3], 0, 7, 7], [200, 255, 30])
    assert abs(int(ds.x_train[1, 0, 7, 7]) - 90) <= 2  # JPEG
    assert build_model("mlp", ds.x_train.shape[1:], 2).body[1].in_features == 256
    _png(base / "test" / "cat" / "f.png", (10, 20, 30))  # one colour image, in the test split
    ds = load_dataset("mine", {"kind": "imagefolder", "image_size": 16}, tmp_path)
    assert ds.x_train.shape == (4, 3, 16, 16) and ds.tests["original"][0].shape == (2, 3, 16, 16)
    np.testing.assert_array_equal(ds.x_train[0, :, 7, 7], [200, 200, 200])
    np.testing.assert_array_equal(ds.tests["original"][0][1, :, 3, 3], [10, 20, 30])
