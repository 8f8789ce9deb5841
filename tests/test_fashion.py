"""Fashion-MNIST: the IDX reader against Debian's real files (60,000 / 10,000 images, balanced classes) and
against small synthetic IDX files (gzipped and not, a wrong magic number, a truncated file), where the files
are looked for and the one-line message when they are missing, and the seeded stratified training subset."""

import copy
import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import unavailable

import memgen.config as mc
from memgen.data.idx import FASHION_CLASSES, IMAGES_MAGIC, LABELS_MAGIC, read_idx, stratified_subset
from memgen.data.index import build_index
from memgen.data.loaders import load_dataset
from memgen.errors import MemgenError
from memgen.params import index as index_params

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def real():
    """The whole dataset from Debian's folder, read once for the tests that need it."""
    if not all((DEBIAN / f"{f}.gz").is_file() for f in mc.IDX_FILES):
        unavailable(f"{DEBIAN} lacks Fashion-MNIST's IDX files: apt-get install dataset-fashion-mnist")
    return load_dataset("fashion_mnist", {"root": str(DEBIAN)})


def _write_idx(path: Path, a: np.ndarray, gz: bool) -> None:
    """An IDX file as the format defines it: magic 0x0000 08 <ndim>, big-endian dims, then the bytes."""
    raw = bytes([0, 0, 8, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)


def _synthetic(n_train=20, n_test=10, h=5, w=4):
    """Images whose pixel (h, w) encodes the index, so a layout mistake shows; labels cycle 0..9."""

    def images(n, offset):
        i = np.arange(n)[:, None, None] + offset
        return ((i * 11 + np.arange(h)[:, None] * 5 + np.arange(w)) % 256).astype(np.uint8)

    return images(n_train, 0), np.arange(n_train) % 10, images(n_test, 100), np.arange(n_test) % 10


def _folder(d: Path, gz=True, arrays=None) -> tuple:
    arrays = arrays or _synthetic()
    d.mkdir(parents=True, exist_ok=True)
    for name, a in zip(mc.IDX_FILES, arrays, strict=True):
        _write_idx(d / (f"{name}.gz" if gz else name), a, gz)
    return arrays


@pytest.fixture
def no_debian(tmp_path, monkeypatch):
    """Debian's folder moved to one that does not exist, so the tests see only their own files."""
    monkeypatch.setattr(mc, "FASHION_DEBIAN", tmp_path / "no-debian")
    return tmp_path / "no-debian"


# --------------------------------------------------------------------------------------------------
# the real files
# --------------------------------------------------------------------------------------------------
def test_real_files_headers_and_classes(real):
    assert real.x_train.shape == (60000, 1, 28, 28) and real.x_train.dtype == np.uint8
    x_te, y_te = real.tests["original"]
    assert x_te.shape == (10000, 1, 28, 28) and list(real.tests) == ["original"]
    assert real.y_train.dtype == np.int64 and set(np.unique(real.y_train)) == set(range(10))
    assert np.bincount(real.y_train).tolist() == [6000] * 10
    assert np.bincount(y_te).tolist() == [1000] * 10
    assert real.num_classes == 10 and real.classes[0] == "T-shirt/top" and real.classes[9] == "Ankle boot"
    # one channel's mean and std, as for the other loaders (Fashion-MNIST's published 0.286 / 0.353)
    assert real.mean.shape == (1,) and abs(real.mean[0] - 0.2860) < 1e-3 and abs(real.std[0] - 0.3530) < 1e-3


def test_real_headers_read_directly(real):
    images = read_idx(DEBIAN / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)
    labels = read_idx(DEBIAN / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,) and labels.max() == 9
    np.testing.assert_array_equal(images, real.tests["original"][0][:, 0])


def test_real_subset_is_stratified_and_seeded_and_keeps_the_test_set(real):
    spec = {"root": str(DEBIAN), "subset": 1005, "split_seed": 3}
    a, b = load_dataset("fashion_mnist", spec), load_dataset("fashion_mnist", spec)
    assert a.x_train.shape == (1005, 1, 28, 28)
    counts = np.bincount(a.y_train, minlength=10)
    assert counts.sum() == 1005 and counts.max() - counts.min() <= 1
    np.testing.assert_array_equal(a.x_train, b.x_train)
    other = load_dataset("fashion_mnist", {**spec, "split_seed": 4})
    assert not np.array_equal(a.x_train, other.x_train)
    np.testing.assert_array_equal(a.tests["original"][0], real.tests["original"][0])
    np.testing.assert_array_equal(a.tests["original"][1], real.tests["original"][1])


def test_real_is_the_default_folder(real, tmp_path):
    if mc.FASHION_DEBIAN != DEBIAN:
        pytest.fail(f"memgen.config.FASHION_DEBIAN is {mc.FASHION_DEBIAN}, not Debian's {DEBIAN}")
    ds = load_dataset("fashion_mnist", {"subset": 10}, tmp_path)  # data_root empty: Debian's is read
    assert ds.x_train.shape == (10, 1, 28, 28) and sorted(ds.y_train.tolist()) == list(range(10))


# --------------------------------------------------------------------------------------------------
# synthetic IDX files
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [True, False])
def test_gz_and_uncompressed_read_the_same(tmp_path, no_debian, gz):
    x_tr, y_tr, x_te, y_te = _folder(tmp_path / "fm", gz=gz)
    ds = load_dataset("fm", {"kind": "fashion_mnist", "root": str(tmp_path / "fm")})
    assert ds.x_train.shape == (20, 1, 5, 4) and ds.x_train.dtype == np.uint8
    np.testing.assert_array_equal(ds.x_train[:, 0], x_tr)
    np.testing.assert_array_equal(ds.y_train, y_tr)
    np.testing.assert_array_equal(ds.tests["original"][0][:, 0], x_te)
    np.testing.assert_array_equal(ds.tests["original"][1], y_te)
    assert ds.classes == list(FASHION_CLASSES) and ds.name == "fm"


def test_compression_is_read_from_the_bytes_not_the_name(tmp_path):
    a = _synthetic()[0]
    _write_idx(tmp_path / "plain.gz", a, gz=False)
    _write_idx(tmp_path / "packed", a, gz=True)
    np.testing.assert_array_equal(read_idx(tmp_path / "plain.gz", IMAGES_MAGIC), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "packed", IMAGES_MAGIC), a)


def test_wrong_magic_number_is_a_clear_error(tmp_path):
    labels = tmp_path / "labels.gz"
    _write_idx(labels, np.arange(10), gz=True)
    with pytest.raises(MemgenError) as e:
        read_idx(labels, IMAGES_MAGIC)  # a labels file where images belong
    msg = str(e.value)
    assert str(labels) in msg and "0x00000803" in msg and "0x00000801" in msg and "Fix:" in msg
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(MemgenError, match="magic number must be 0x00000801, it has 0x89504e47"):
        read_idx(junk, LABELS_MAGIC)


def test_truncated_file_is_a_clear_error(tmp_path):
    f = tmp_path / "images"
    _write_idx(f, _synthetic()[0], gz=False)
    f.write_bytes(f.read_bytes()[:-7])
    with pytest.raises(MemgenError, match=r"holds 393 bytes of data, but its header says 20 x 5 x 4"):
        read_idx(f, IMAGES_MAGIC)
    g = tmp_path / "damaged.gz"
    g.write_bytes(gzip.compress(b"\0\0\x08\x01" + bytes(8))[:-5])
    with pytest.raises(MemgenError, match="damaged gzip"):
        read_idx(g, LABELS_MAGIC)


def test_images_and_labels_must_pair(tmp_path, no_debian):
    x_tr, y_tr, x_te, y_te = _synthetic()
    _folder(tmp_path / "fm", arrays=(x_tr, y_tr[:-1], x_te, y_te))
    with pytest.raises(MemgenError, match="20 images but .* 19 labels"):
        load_dataset("fashion_mnist", {"root": str(tmp_path / "fm")})
    _folder(tmp_path / "fm", arrays=(x_tr, y_tr + 5, x_te, y_te))
    with pytest.raises(MemgenError, match="label 14; Fashion-MNIST's are 0..9"):
        load_dataset("fashion_mnist", {"root": str(tmp_path / "fm")})


# --------------------------------------------------------------------------------------------------
# where the files are looked for
# --------------------------------------------------------------------------------------------------
def test_missing_files_name_the_paths_and_the_apt_fix(tmp_path, no_debian):
    with pytest.raises(MemgenError) as e:
        load_dataset("fashion_mnist", {}, tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "Fix:" in msg and "apt-get install dataset-fashion-mnist" in msg
    assert (
        f"{no_debian}/ (no such folder)" in msg and f"{tmp_path / 'fashion-mnist'}/ (no such folder)" in msg
    )
    assert "datasets.fashion_mnist.root" in msg


def test_a_missing_file_is_named(tmp_path, no_debian):
    _folder(tmp_path / "fashion-mnist")
    (tmp_path / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MemgenError) as e:
        load_dataset("fashion_mnist", {}, tmp_path)
    msg = str(e.value)
    assert f"{tmp_path / 'fashion-mnist' / 't10k-labels-idx1-ubyte'}[.gz]" in msg
    assert "train-images" not in msg and "apt-get install dataset-fashion-mnist" in msg


def test_data_root_is_the_second_place_and_root_the_only_one(tmp_path, monkeypatch):
    debian, mine = tmp_path / "debian", tmp_path / "data" / "fashion-mnist"
    monkeypatch.setattr(mc, "FASHION_DEBIAN", debian)
    _folder(mine, gz=False)
    assert load_dataset("fashion_mnist", {}, tmp_path / "data").x_train.shape == (20, 1, 5, 4)
    _folder(debian, arrays=_synthetic(n_train=30))  # present in both: Debian's is the default
    assert load_dataset("fashion_mnist", {}, tmp_path / "data").x_train.shape == (30, 1, 5, 4)
    with pytest.raises(MemgenError, match=f"{tmp_path / 'elsewhere'}/ \\(no such folder\\)") as e:
        load_dataset("fashion_mnist", {"root": str(tmp_path / "elsewhere")}, tmp_path / "data")
    assert str(debian) + "/" not in str(e.value).split(". Fix:")[0]  # an explicit root is the only place


# --------------------------------------------------------------------------------------------------
# the subset
# --------------------------------------------------------------------------------------------------
def test_stratified_subset_on_unbalanced_labels():
    labels = np.repeat(np.arange(4), [1, 9, 30, 60])
    keep = stratified_subset(labels, 20, seed=0)
    assert len(keep) == 20 and len(set(keep)) == 20 and np.all(np.diff(keep) > 0)
    counts = np.bincount(labels[keep], minlength=4)
    assert counts[0] == 1 and counts.min() >= 1  # every class kept, the rest in proportion
    assert abs(counts[3] - 19 * 59 / 96) <= 1 and abs(counts[2] - 19 * 29 / 96) <= 1
    np.testing.assert_array_equal(keep, stratified_subset(labels, 20, seed=0))
    assert not np.array_equal(keep, stratified_subset(labels, 20, seed=1))
    np.testing.assert_array_equal(stratified_subset(labels, 100, seed=0), np.arange(100))


@pytest.mark.parametrize("n", [10, 11, 19, 20])
def test_subset_is_balanced_and_keeps_the_test_set(tmp_path, no_debian, n):
    x_tr, _, x_te, _ = _folder(tmp_path / "fm", arrays=_synthetic(n_train=40))
    ds = load_dataset("fashion_mnist", {"root": str(tmp_path / "fm"), "subset": n, "split_seed": 7})
    counts = np.bincount(ds.y_train, minlength=10)
    assert counts.sum() == n and counts.max() - counts.min() <= 1
    # each kept image is the one its label says, in the files' order
    rows = [int(np.flatnonzero((x_tr == img[0]).all(axis=(1, 2)))[0]) for img in ds.x_train]
    assert rows == sorted(rows) and np.array_equal(np.array(rows) % 10, ds.y_train)
    np.testing.assert_array_equal(ds.tests["original"][0][:, 0], x_te)


@pytest.mark.parametrize("n", [9, 41, True, 2.5])
def test_subset_outside_its_range_is_a_clear_error(tmp_path, no_debian, n):
    _folder(tmp_path / "fm", arrays=_synthetic(n_train=40))
    with pytest.raises(MemgenError, match=r"datasets.shirts.subset = .* is outside 10..40"):
        load_dataset("shirts", {"kind": "fashion_mnist", "root": str(tmp_path / "fm"), "subset": n})


def test_subset_of_another_kind_is_refused():
    with pytest.raises(MemgenError, match="datasets.digits.subset is set, but digits does not draw"):
        load_dataset("digits", {"subset": 100})


# --------------------------------------------------------------------------------------------------
# the config and the dataset index
# --------------------------------------------------------------------------------------------------
def _config(**entry) -> dict:
    c = yaml.safe_load((ROOT / "config.yaml").read_text())
    c["datasets"] = {"fashion_mnist": {"archs": {"mlp": {}}, **entry}}
    return mc.validate(copy.deepcopy(c))


def test_config_takes_the_kind_and_a_subset():
    c = _config(subset=2000)
    assert mc.loader_spec(c, "fashion_mnist")["subset"] == 2000
    assert "subset" not in mc.loader_spec(_config(), "fashion_mnist")  # unset: no key, nothing reruns
    # a changed subset or seed re-indexes (and so reruns what reads the index)
    assert index_params(c, "fashion_mnist") != index_params(_config(subset=3000), "fashion_mnist")
    assert index_params(c, "fashion_mnist") != index_params(
        _config(subset=2000, split_seed=1), "fashion_mnist"
    )
    with pytest.raises(MemgenError, match="subset = 0 is invalid"):
        _config(subset=0)
    with pytest.raises(MemgenError, match="kind = 'fashion-mnist' is invalid"):
        _config(kind="fashion-mnist")


def test_index_holds_the_subset(tmp_path, no_debian):
    _folder(tmp_path / "fashion-mnist", arrays=_synthetic(n_train=40))
    idx = build_index("fashion_mnist", {"subset": 20, "split_seed": 0}, str(tmp_path))
    assert idx["n"] == 20 and idx["num_classes"] == 10 and list(idx["classes"]) == list(FASHION_CLASSES)
    assert np.bincount(idx["labels"]).tolist() == [2] * 10 and len(idx["test_labels"]) == 10


def test_a_copy_without_gz_in_data_root(tmp_path, no_debian):
    src = tmp_path / "src"
    _folder(src, gz=True)
    dst = tmp_path / "data" / "fashion-mnist"
    dst.mkdir(parents=True)
    for f in mc.IDX_FILES:  # gunzipped by hand, as a user may have them
        with gzip.open(src / f"{f}.gz") as g, open(dst / f, "wb") as out:
            shutil.copyfileobj(g, out)
    ds = load_dataset("fashion_mnist", {}, tmp_path / "data")
    np.testing.assert_array_equal(ds.x_train[:, 0], _synthetic()[0])


def test_fingerprint_sees_the_files_read(tmp_path, no_debian):
    from memgen.params import fingerprint

    mine = tmp_path / "fashion-mnist"
    _folder(mine)
    before = fingerprint("fashion_mnist", {}, tmp_path)
    assert before and before == fingerprint("fashion_mnist", {}, tmp_path)  # on disk, and stable
    f = mine / f"{mc.IDX_FILES[1]}.gz"
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert fingerprint("fashion_mnist", {}, tmp_path) != before
    changed = fingerprint("fashion_mnist", {}, tmp_path)
    _folder(no_debian)  # a copy where Debian's package puts it: now that one is read
    both = fingerprint("fashion_mnist", {}, tmp_path)
    assert both != changed
    assert fingerprint("fashion_mnist", {"root": str(mine)}, tmp_path) not in ("", both)  # root: it alone
