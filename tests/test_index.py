"""The dataset index: labels without pixels, and for image folders each file's path, size and hash."""

import os
from pathlib import Path

import numpy as np
from PIL import Image

from memgen.data.index import build_index, load_index, write_index
from memgen.data.loaders import load_dataset
from memgen.params import fingerprint


def test_digits_index_matches_the_loader(tmp_path):
    out = tmp_path / "index.npz"
    write_index("digits", {"data_root": "data"}, str(out))
    idx, ds = load_index(out), load_dataset("digits", {})
    assert idx["n"] == 1437 and idx["num_classes"] == 10 and idx["classes"] == [str(c) for c in range(10)]
    np.testing.assert_array_equal(idx["labels"], ds.y_train)
    np.testing.assert_array_equal(idx["test_labels"], ds.tests["original"][1])
    assert fingerprint("digits", {}) == ""  # bundled: nothing on disk to watch


def _folder(root: Path) -> Path:
    base = root / "mine"
    for split, n in (("train", 3), ("test", 1)):
        for c, rgb in (("cat", (200, 10, 10)), ("dog", (10, 10, 200))):
            d = base / split / c
            d.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (12, 10), (rgb[0], rgb[1] + 20 * i, rgb[2])).save(d / f"{c}{i}.png")
    return base


def test_image_folder_index_names_every_file(tmp_path):
    base = _folder(tmp_path)
    spec = {"kind": "imagefolder", "image_size": 8}
    idx = build_index("mine", spec, tmp_path)
    assert idx["n"] == 6 and list(idx["classes"]) == ["cat", "dog"]
    assert list(idx["train_path"]) == [f"train/{c}/{c}{i}.png" for c in ("cat", "dog") for i in range(3)]
    assert list(idx["labels"]) == [0, 0, 0, 1, 1, 1]
    first = base / "train/cat/cat0.png"
    assert idx["train_size"][0] == first.stat().st_size
    import hashlib

    assert idx["train_sha256"][0] == hashlib.sha256(first.read_bytes()).hexdigest()


def test_fingerprint_sees_a_changed_image_and_nothing_else(tmp_path):
    base = _folder(tmp_path)
    spec = {"kind": "imagefolder"}
    before = fingerprint("mine", spec, tmp_path)
    assert before == fingerprint("mine", spec, tmp_path)  # stable
    f = base / "train/dog/dog1.png"
    Image.new("RGB", (12, 10), (1, 2, 3)).save(f)
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert fingerprint("mine", spec, tmp_path) != before
    other = tmp_path / "other"
    other.mkdir()
    assert fingerprint("mine", {"kind": "imagefolder", "root": str(other)}, tmp_path) != before


def test_an_unusable_image_folder_fails_with_the_loaders_message(tmp_path):
    import pytest

    from memgen.errors import MemgenError

    (tmp_path / "mine" / "train" / "cat").mkdir(parents=True)  # no test/ split, no images
    with pytest.raises(MemgenError, match="not found|no images|no class"):
        build_index("mine", {"kind": "imagefolder"}, tmp_path)
