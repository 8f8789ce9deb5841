"""Fashion-MNIST from the MNIST IDX format, gzipped or not, and the seeded stratified training subset that
lets CPUs run it.

The four files are looked for where `memgen.config.idx_folders` says (Debian's dataset-fashion-mnist
folder, then <data_root>/fashion-mnist, or the dataset's `root` alone); nothing is downloaded. Images stay
one channel: uint8 [N, 1, 28, 28].
"""

import gzip
import logging
import math
import zlib
from pathlib import Path

import numpy as np

import memgen.config as mc
from memgen.data.dataset import Dataset
from memgen.errors import fail

log = logging.getLogger(__name__)

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# IDX magic numbers: two zero bytes, type 0x08 (unsigned byte), then the number of dimensions
IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801
MAGICS = (IMAGES_MAGIC, LABELS_MAGIC, IMAGES_MAGIC, LABELS_MAGIC)  # in the order of mc.IDX_FILES


def _unpack(path: Path, fix: str) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":  # gzip's own magic: compression is read from the bytes, not the name
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise fail(f"{path} is a damaged gzip file ({e})", fix) from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The uint8 array of one IDX file whose header must carry `magic` (0x803 images, 0x801 labels)."""
    fix = "replace it with the original file (apt-get install --reinstall dataset-fashion-mnist)"
    raw = _unpack(Path(path), fix)
    found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    if found != magic:
        what = "images" if magic == IMAGES_MAGIC else "labels"
        seen = "the file is shorter than 4 bytes" if found is None else f"it has 0x{found:08x}"
        raise fail(f"{path} is not an IDX {what} file: its magic number must be 0x{magic:08x}, {seen}", fix)
    ndim = magic & 0xFF
    start = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:start].ljust(4 * ndim, b"\0"), ">u4"))
    if len(raw) != start + math.prod(shape):  # Python ints: a garbled header cannot overflow
        raise fail(
            f"{path} holds {len(raw) - start} bytes of data, but its header says "
            f"{' x '.join(map(str, shape))}",
            fix,
        )
    return np.frombuffer(raw, np.uint8, offset=start).reshape(shape).copy()  # copy: writable, owns its memory


def idx_paths(name: str, spec: dict, root: Path) -> list[Path]:
    """The four files (each `<file>.gz` or `<file>`) from the first folder that holds all of them."""
    missing = []
    for folder in mc.idx_folders(spec, root):
        found = [
            next((p for p in (folder / f"{f}.gz", folder / f) if p.is_file()), None) for f in mc.IDX_FILES
        ]
        if all(found):
            return found
        if not folder.is_dir():
            missing.append(f"{folder}/ (no such folder)")
        else:
            missing += [f"{folder / f}[.gz]" for f, p in zip(mc.IDX_FILES, found, strict=True) if p is None]
    raise fail(
        f"Fashion-MNIST not found: {', '.join(missing)} (no download is attempted)",
        f"apt-get install dataset-fashion-mnist (it installs them in {mc.FASHION_DEBIAN}), or put the four "
        f"IDX files in {Path(root) / 'fashion-mnist'}, or set datasets.{name}.root",
    )


def _check_pair(images: np.ndarray, labels: np.ndarray, paths: list[Path]) -> None:
    fix = "use the original Fashion-MNIST files (apt-get install --reinstall dataset-fashion-mnist)"
    if len(images) != len(labels):
        raise fail(f"{paths[0]} holds {len(images)} images but {paths[1]} {len(labels)} labels", fix)
    if labels.size and labels.max() >= len(FASHION_CLASSES):
        raise fail(f"{paths[1]} has label {labels.max()}; Fashion-MNIST's are 0..9", fix)


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of n points, drawn by `seed`: one of every class, the rest shared in proportion to
    the classes' sizes (largest remainders first, ties by the seed), so balanced classes differ by <= 1."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    if n >= len(labels):
        return np.arange(len(labels))
    share = (n - len(classes)) * (counts - 1) / max(1, len(labels) - len(classes))
    quota = 1 + np.floor(share).astype(np.int64)
    order = np.lexsort((rng.random(len(classes)), -(share - np.floor(share))))
    quota[order[: n - int(quota.sum())]] += 1
    drawn = [
        rng.choice(np.flatnonzero(labels == c), q, replace=False) for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(drawn))


def _subset(name: str, spec: dict, labels: np.ndarray) -> np.ndarray | None:
    """The training points `datasets.<name>.subset` keeps (None: all), drawn by split_seed."""
    n = spec.get("subset")
    if n is None:
        return None
    n_cls, avail = len(np.unique(labels)), len(labels)
    if isinstance(n, bool) or not isinstance(n, int) or not n_cls <= n <= avail:
        raise fail(
            f"datasets.{name}.subset = {n!r} is outside {n_cls}..{avail} (one image of each of the {n_cls} "
            f"classes at least, the {avail} training images at most)",
            f"give an integer in that range, or remove subset to train on all {avail}",
        )
    return stratified_subset(labels, n, int(spec.get("split_seed", 0)))


def load_fashion_mnist(name="fashion_mnist", spec=None, root=Path("data")) -> Dataset:
    """Fashion-MNIST's 60,000 training and 10,000 test images (or a stratified `subset` of the training
    images, drawn by split_seed; the test set stays whole)."""
    spec = spec or {}
    paths = idx_paths(name, spec, Path(root))
    x_tr, y_tr, x_te, y_te = (read_idx(p, m) for p, m in zip(paths, MAGICS, strict=True))
    _check_pair(x_tr, y_tr, paths[:2])
    _check_pair(x_te, y_te, paths[2:])
    keep = _subset(name, spec, y_tr)
    if keep is not None:
        log.info(
            "%s: %d of %d training images (subset, stratified, split_seed %d); test set whole (%d)",
            name,
            len(keep),
            len(y_tr),
            int(spec.get("split_seed", 0)),
            len(y_te),
        )
        x_tr, y_tr = x_tr[keep], y_tr[keep]
    tests = {"original": (x_te[:, None].copy(), y_te.astype(np.int64))}
    return Dataset(
        name,
        x_tr[:, None].copy(),
        y_tr.astype(np.int64),
        tests,
        len(FASHION_CLASSES),
        class_names=list(FASHION_CLASSES),
    )
