"""The dataset index: one light artifact per dataset, read instead of pixels by rules needing N and labels.

`results/{dataset}/data/index.npz` holds N, the training labels, the class names, the original test set's
labels, and for image folders each training and test file's path (relative to the folder), size and
sha256, so every per-point output can name its file and a changed image is visible in the index.

Which settings and files the index depends on is `memgen.params.index()`: the rule's params, computed when
Snakemake plans. For an image folder it lists every file with its size and modification time (a `stat` per
file, no read): an added, removed, renamed or rewritten image changes it and re-indexes that dataset alone.
"""

import hashlib
import io
import logging
from pathlib import Path

import numpy as np

from memgen.config import folder_base
from memgen.data.loaders import folder_listing, load_dataset
from memgen.errors import fail
from memgen.io import load_npz, save_npz
from memgen.kinds import FOLDER_KINDS, kind_of

log = logging.getLogger(__name__)


def check_image(base: Path, rel: str, min_side: int) -> tuple[str, int, int]:
    """sha256, width and height of one image file, from its bytes and header (no decoding: a full decode
    of ImageNet would cost the index an hour of CPU). A file that is not an image, a JPEG or PNG cut short
    (its end marker missing: the usual corruption of an interrupted copy) and an image smaller than
    `min_side` fail naming the file. A file corrupt inside fails when a job decodes it, naming it too."""
    from PIL import Image

    path = base / rel
    data = path.read_bytes()
    fix = "replace or remove the file (memgen never drops a training point silently), then rerun"
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt, (w, h) = img.format, img.size
    except Exception as e:  # PIL's UnidentifiedImageError, SyntaxError, ...
        raise fail(f"{path} is not a readable image ({type(e).__name__}: {e})", fix) from None
    # JPEG ends with the EOI marker FFD9 (some writers pad after it); PNG with its IEND chunk
    if fmt == "JPEG" and b"\xff\xd9" not in data[-1024:]:
        raise fail(f"{path} is a truncated JPEG (no end-of-image marker)", fix)
    if fmt == "PNG" and b"IEND" not in data[-64:]:
        raise fail(f"{path} is a truncated PNG (no IEND chunk)", fix)
    if min(w, h) < min_side:
        raise fail(
            f"{path} is {w} x {h} px, smaller than min_side = {min_side} px for the model's input",
            f"{fix}, or lower the dataset's min_side",
        )
    return hashlib.sha256(data).hexdigest(), w, h


def build_index(name: str, spec: dict, data_root: str = "data") -> dict:
    """Arrays of the index (see the module docstring)."""
    if kind_of(name, spec) in FOLDER_KINDS:
        # the listing the loader uses (memgen.data.loaders.image_files), without decoding a pixel
        base = folder_base(name, spec, Path(data_root))
        classes, train, test = folder_listing(name, spec, base)
        arrays = {}
        for split, listing in (("train", train), ("test", test)):
            paths = [p for p, _ in listing]
            arrays[f"{split}_path"] = np.array(paths, dtype=str)
            checked = [check_image(base, p, int(spec.get("min_side") or 1)) for p in paths]
            arrays[f"{split}_size"] = np.array([(base / p).stat().st_size for p in paths], dtype=np.int64)
            arrays[f"{split}_sha256"] = np.array([c[0] for c in checked], dtype=str)
            arrays[f"{split}_shape"] = np.array([c[1:] for c in checked], dtype=np.int64).reshape(-1, 2)
        labels = np.array([c for _, c in train], dtype=np.int64)
        test_labels = np.array([c for _, c in test], dtype=np.int64)
    else:
        ds = load_dataset(name, spec, data_root)
        arrays, labels, test_labels, classes = {}, ds.y_train, ds.tests["original"][1], ds.classes
    return {
        "n": np.int64(len(labels)),
        "labels": labels.astype(np.int64),
        "test_labels": test_labels.astype(np.int64),
        "num_classes": np.int64(len(classes)),
        "classes": np.array(classes, dtype=str),
        **arrays,
    }


def write_index(name: str, spec: dict, out: str) -> dict:
    idx = build_index(name, spec, spec.get("data_root", "data"))
    save_npz(out, **idx)
    log.info(
        "%s: %d training points, %d test points, %d classes%s",
        name,
        idx["n"],
        len(idx["test_labels"]),
        idx["num_classes"],
        f", {len(idx['train_path'])} training files hashed" if "train_path" in idx else "",
    )
    return {}


def load_index(path) -> dict:
    """The index as plain values: n, labels, test_labels, num_classes, classes, and paths when present."""
    z = load_npz(path, ["n", "labels", "num_classes", "classes"])
    out = {k: z[k] for k in z}
    out["n"], out["num_classes"] = int(out["n"]), int(out["num_classes"])
    out["classes"] = [str(c) for c in out["classes"]]
    return out


def point_paths(index: dict, split: str = "train") -> np.ndarray:
    """Each point's file, relative to its image folder (str [N]); "" for datasets without files (bundled
    digits, generated longtail, CIFAR's pickles): one layout for every dataset (docs/decisions.md: A path
    column everywhere)."""
    n = int(index["n"]) if split == "train" else len(index["test_labels"])
    paths = index.get(f"{split}_path")
    if paths is None:
        return np.full(n, "", dtype=object)
    paths = np.asarray(paths).astype(str).astype(object)
    if len(paths) != n:
        raise fail(
            f"the index lists {len(paths)} {split} files for {n} points",
            "rerun the dataset_index rule: snakemake --forcerun results/<dataset>/data/index.npz",
        )
    return paths
