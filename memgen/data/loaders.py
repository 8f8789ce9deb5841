"""Datasets behind one interface: images as uint8 [N, C, H, W], labels int64, named test sets.

Every loader returns a `Dataset`. Real datasets are read from disk only: with no internet a missing
dataset fails at once with the path that is missing and how to obtain it.
"""

import logging
import pickle
from pathlib import Path

import numpy as np

from memgen.config import folder_base
from memgen.data.dataset import Dataset
from memgen.data.idx import load_fashion_mnist
from memgen.errors import fail
from memgen.kinds import CIFAR_FOLDERS, FOLDER_KINDS, KINDS, SUBSET_KINDS, kind_of

log = logging.getLogger(__name__)


def loaders() -> dict:
    """The loader of each kind of memgen.kinds.KINDS (tests/test_data.py: one for every kind, no other)."""
    return {
        "digits": load_digits,
        "longtail": load_longtail,
        "cifar10": load_cifar,
        "cifar100": load_cifar,
        "fashion_mnist": load_fashion_mnist,
        "imagenet": load_imagefolder,
        "imagefolder": load_imagefolder,
    }


def load_dataset(
    name: str, spec: dict, data_root: str | Path = "data", random_resized_crop: bool = False
) -> Dataset:
    """Load dataset `name` with its config entry `spec` (the keys under datasets.<name>).

    random_resized_crop: the recipe that will read it crops at random from the originals, which only the
    streaming path of an image folder keeps (with loader: auto it chooses that path)."""
    kind = kind_of(name, spec)
    if kind not in KINDS:
        raise fail(f"unknown dataset kind '{kind}' for dataset '{name}'", f"use one of {', '.join(KINDS)}")
    if spec.get("subset") is not None and kind not in SUBSET_KINDS:
        raise fail(
            f"datasets.{name}.subset is set, but {kind} does not draw a training subset",
            f"remove it (only {', '.join(SUBSET_KINDS)} take one)",
        )
    if kind in FOLDER_KINDS:
        ds = load_imagefolder(name, spec, Path(data_root), random_resized_crop)
    else:
        ds = loaders()[kind](name=name, spec=spec, root=Path(data_root))
    ds.name = name
    return ds


def load_digits(name="digits", spec=None, root=None) -> Dataset:
    """scikit-learn's bundled 8x8 digits (no download), split once with a fixed seed."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    spec = spec or {}
    d = sk_digits()
    # pixel values are 0..16; spread them over uint8 so every dataset shares one image format
    x = np.round(d.images * (255 / 16)).astype(np.uint8)[:, None]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=spec.get("test_fraction", 0.2), random_state=spec.get("split_seed", 0), stratify=y
    )
    return Dataset(name, x_tr, y_tr, {"original": (x_te, y_te)}, 10)


def load_longtail(name="longtail", spec=None, root=None) -> Dataset:
    """Seeded long-tail generator with ground truth (see memgen.data.longtail)."""
    from memgen.data.longtail import generate

    return generate(**(spec or {}).get("generator", {}))


def _need(path: Path, what: str, how: str) -> None:
    if not path.exists():
        raise fail(f"{what} not found: {path} is missing (no download is attempted)", how)


def load_cifar(name="cifar10", spec=None, root=Path("data")) -> Dataset:
    """CIFAR-10/100 from torchvision's on-disk format (cifar-10-batches-py / cifar-100-python)."""
    import torchvision

    spec = spec or {}
    kind = spec.get("kind", name)
    cls, n_cls = {
        "cifar10": (torchvision.datasets.CIFAR10, 10),
        "cifar100": (torchvision.datasets.CIFAR100, 100),
    }[kind]
    folder = CIFAR_FOLDERS[kind]  # torchvision's base_folder
    root = Path(spec.get("root", root / kind))
    how = (
        f'download it on a machine with internet: python -c "import torchvision; '
        f"torchvision.datasets.{cls.__name__}('{root}', download=True)\", or set datasets.{name}.root"
    )
    _need(root / folder, f"{kind} data", how)
    for fname, _md5 in cls.train_list + cls.test_list + [[cls.meta["filename"], None]]:
        _need(root / folder / fname, f"{kind} file", how)

    class _Present(cls):
        # torchvision checks md5 sums of the full release; we check presence and shapes instead, so a
        # re-packaged or subset copy in the same format (as the tests write) loads too.
        def _check_integrity(self):
            return True

        def _load_meta(self):
            # torchvision md5-checks the class-name file separately; skip that check for the same reason
            with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]

    tr, te = _Present(str(root), train=True), _Present(str(root), train=False)
    tests = {"original": (te.data.transpose(0, 3, 1, 2).copy(), np.asarray(te.targets, dtype=np.int64))}
    new = spec.get("new_test_set")  # CIFAR-10.1 (Recht et al.): two .npy files
    if new:
        d = root / new.get("dir", "cifar10.1")
        data, labels = (
            d / new.get("data", "cifar10.1_v6_data.npy"),
            d / new.get("labels", "cifar10.1_v6_labels.npy"),
        )
        how = "download CIFAR-10.1 (github.com/modestyachts/CIFAR-10.1, datasets/) into that folder"
        _need(data, "CIFAR-10.1 images", how)
        _need(labels, "CIFAR-10.1 labels", how)
        tests[new.get("name", "cifar10.1")] = (
            np.load(data).transpose(0, 3, 1, 2).copy(),
            np.load(labels).astype(np.int64),
        )
    x_tr = tr.data.transpose(0, 3, 1, 2).copy()
    return Dataset(
        name, x_tr, np.asarray(tr.targets, dtype=np.int64), tests, n_cls, class_names=list(tr.classes)
    )


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
# Above this many bytes held in memory (N x 3 x S x S uint8), loader: auto streams an image folder: a fraction
# of a laptop's or a GPU's memory (docs/decisions.md: Auto-streaming above 2 GiB).
AUTO_MEMORY_LIMIT = 2 * 1024**3


def folder_classes(base: Path) -> list[str]:
    train = base / "train"
    return sorted(p.name for p in train.iterdir() if p.is_dir()) if train.is_dir() else []


def _visible(d: Path) -> list[Path]:
    """Entries of a folder in name order, hidden ones (.DS_Store, ._*, .ipynb_checkpoints) left out: they
    are never images a user put there."""
    return sorted(p for p in d.iterdir() if not p.name.startswith("."))


def image_files(base: Path, split: str, folders: list[str]) -> list[tuple[str, int]]:
    """(path relative to base, label) of every image of base/split/<folder>/, in the order the loaders use:
    folders in the given order (label = position), files sorted by name within each.

    Anything else in a class folder is an error, never skipped: a skipped file is a training point the
    study silently lost. A class folder of `split` that is missing is fine (a test set may lack a class)."""
    how_rm = "move it out of the class folder (or delete it)"
    out = []
    for c, cname in enumerate(folders):
        d = base / split / cname
        if not d.is_dir():
            continue
        entries = _visible(d)
        for f in entries:
            if f.is_dir():
                raise fail(f"{f} is a folder inside class folder {d}: classes cannot nest", how_rm)
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                raise fail(
                    f"{f} is not an image (memgen reads {', '.join(sorted(IMAGE_SUFFIXES))})",
                    f"{how_rm}, or convert it to one of those formats",
                )
        if not entries:
            raise fail(f"class folder {d} holds no images", "add its images or remove the empty folder")
        out += [(f"{split}/{cname}/{f.name}", c) for f in entries]
    return out


def check_test_classes(base: Path, split: str, classes: list[str]) -> None:
    """A class folder under `split` that train/ lacks has no label a member could learn."""
    top = base / split
    extra = sorted(
        p.name for p in top.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in classes
    )
    if extra:
        raise fail(
            f"{top} has class folder(s) {', '.join(extra[:5])} that {base}/train lacks",
            f"add their training images under {base}/train/<class>/ or remove them from {top}",
        )


def split_listing(files: list[tuple[str, int]], fraction: float, seed: int):
    """A stratified train/test split of a listing: round(fraction x n) of each class (at least 1, never all
    of a class with 2+ images) to test, drawn by `seed`; both keep the listing's order."""
    rng = np.random.default_rng(seed)
    labels = np.array([c for _, c in files])
    to_test = np.zeros(len(files), dtype=bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        k = min(max(1, round(fraction * len(members))), len(members) - 1)
        to_test[rng.permutation(members)[:k]] = True
    return [f for f, t in zip(files, to_test, strict=True) if not t], [
        f for f, t in zip(files, to_test, strict=True) if t
    ]


def folder_listing(name: str, spec: dict, base: Path):
    """(classes, train, test) of an image folder, each split a list of (path relative to base, label).

    A folder without test/ gets a stratified split of train/ (test_fraction of each class, by split_seed),
    recorded in the index (docs/decisions.md: Split of a folder without test/)."""
    how = (
        f"put images in {base}/train/<class>/*.jpg (and optionally {base}/test/<class>/), "
        f"or set datasets.{name}.root"
    )
    _need(base / "train", f"{name} training folder", how)
    classes = folder_classes(base)
    if not classes:
        raise fail(f"{base}/train has no class sub-folders", how)
    train = image_files(base, "train", classes)
    if (base / "test").is_dir():
        check_test_classes(base, "test", classes)
        test = image_files(base, "test", classes)
        if not test:
            raise fail(
                f"{base}/test holds no images",
                f"put test images in {base}/test/<class>/, or remove test/ to split train/",
            )
    else:
        train, test = split_listing(
            train, float(spec.get("test_fraction", 0.2)), int(spec.get("split_seed", 0))
        )
        log.info(
            "%s: no test/ folder: %d of %d images of train/ held out as the test set (test_fraction %.2f, "
            "split_seed %d; listed in the dataset index)",
            name,
            len(test),
            len(train) + len(test),
            float(spec.get("test_fraction", 0.2)),
            int(spec.get("split_seed", 0)),
        )
    return classes, train, test


def choose_loader(spec: dict, n: int, random_resized_crop: bool) -> str:
    """memory | stream for an image folder (datasets.<name>.loader; auto = stream for random-resized-crop
    recipes and above AUTO_MEMORY_LIMIT). Both train the same member where they overlap."""
    loader = spec.get("loader", "auto")
    if loader != "auto":
        return loader
    size = int(spec.get("image_size", 32))
    return "stream" if random_resized_crop or n * 3 * size * size > AUTO_MEMORY_LIMIT else "memory"


def _files_labels(files) -> tuple[list, np.ndarray]:
    return [f for f, _ in files], np.asarray([c for _, c in files], dtype=np.int64)


def _folder_splits(base: Path, spec: dict, classes, train, test) -> dict:
    """{split: (files, labels)}: train, the original test set and the new test set when the spec names one."""
    splits = {"train": _files_labels(train), "original": _files_labels(test)}
    new = spec.get("new_test_set")
    if new:  # e.g. ImageNetV2, whose sub-folders are class indices 0..C-1 in the sorted order of train/
        d = new.get("dir", "imagenetv2")
        how_new = f"put the new test set in {base}/{d}/<class index>/*.jpeg (ImageNetV2's layout)"
        _need(base / d, f"{new.get('name', d)} test set", how_new)
        files = image_files(base, d, [str(i) for i in range(len(classes))])
        if not files:
            raise fail(f"{base}/{d} holds no images", f"put its images in {base}/{d}/<class>/")
        splits[new.get("name", d)] = _files_labels(files)
    return splits


def _streamed(name: str, base: Path, splits: dict, size: int, spec: dict, random_resized_crop: bool) -> dict:
    """{split: (FolderImages, labels)}: each split decoded from disk batch by batch (memgen.data.stream).
    Every split has the channels of the whole folder: 1 if all its images are grey, else 3."""
    # here, not at the top: memgen.data.stream imports torch, which the index and light rules never need
    from memgen.data.stream import FolderImages, folder_channels

    workers, gpu = spec.get("loader_workers"), spec.get("gpu_decode", True)
    mode = "center" if random_resized_crop else "resize"
    channels = folder_channels(base, [f for files, _ in splits.values() for f in files])
    imgs = {k: (FolderImages(base, f, size, mode, workers, gpu, channels), y) for k, (f, y) in splits.items()}
    log.info(
        "%s: streaming %d training images from %s at %d px, %d channel(s) (%d decoding workers)",
        name,
        len(splits["train"][0]),
        base,
        size,
        channels,
        imgs["train"][0].workers,
    )
    return imgs


def _read_resized(base: Path, files, size: int) -> tuple[np.ndarray, bool]:
    """The whole folder resized once as RGB, uint8 [N, 3, S, S] (memgen.data.stream's "resize" transform is
    the same), and whether every image is grey (its three channels then equal)."""
    from PIL import Image

    from memgen.data.stream import is_grey, read_image

    out, grey = [], True
    for f in files:
        img = read_image(base / f)
        grey = grey and is_grey(img)
        out.append(np.asarray(img.convert("RGB").resize((size, size), Image.BILINEAR)).transpose(2, 0, 1))
    return np.stack(out).astype(np.uint8, order="C"), grey  # channel-first in memory, as streamed batches


def _read_folder(base: Path, splits: dict, size: int) -> dict:
    """{split: (uint8 [N, C, S, S], labels)} held in memory: C = 1 when every image of every split is grey
    (a grey folder stays one channel, as the streaming path reads it), else 3."""
    read = {k: _read_resized(base, f, size) for k, (f, _) in splits.items()}
    channels = 1 if all(grey for _, grey in read.values()) else 3
    return {k: (np.ascontiguousarray(x[:, :channels]), splits[k][1]) for k, (x, _) in read.items()}


def load_imagefolder(name="imagefolder", spec=None, root=Path("data"), random_resized_crop=False) -> Dataset:
    """A folder of class sub-folders (train/ and test/), at `image_size`: held in memory (resized once) or
    streamed from disk (memgen.data.stream), as `choose_loader` says.

    Used for ImageNet and for users auditing their own data.
    """
    spec = spec or {}
    base = folder_base(name, spec, root)
    size = int(spec.get("image_size", 32))
    classes, train, test = folder_listing(name, spec, base)
    splits = _folder_splits(base, spec, classes, train, test)
    loader = choose_loader(spec, len(splits["train"][0]), random_resized_crop)
    if loader == "stream":
        imgs = _streamed(name, base, splits, size, spec, random_resized_crop)
    elif random_resized_crop:
        raise fail(
            f"datasets.{name}.loader is memory, but the recipe has random_resized_crop, which crops the "
            "original images only the streaming loader keeps",
            f"set datasets.{name}.loader: stream (or auto), or training.random_resized_crop: false",
        )
    else:
        imgs = _read_folder(base, splits, size)
    x_tr, y_tr = imgs.pop("train")
    return Dataset(name, x_tr, y_tr, imgs, len(classes), class_names=classes)


def dataset_from(spec: dict, name: str, config: dict | None = None, random_resized_crop: bool = False):
    """The dataset as a rule's params describe it (`spec`), read the way the config says (the run-only
    loader keys, memgen.config.loader_run), for a recipe with or without random-resized crops."""
    import memgen.config as mc

    spec = {**spec, **mc.loader_run(config, name)}
    return load_dataset(name, spec, spec.get("data_root", "data"), random_resized_crop)
