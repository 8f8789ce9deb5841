"""Image folders streamed from disk: read, decode and augment in batches, never the whole folder in memory.

The in-memory path (memgen.data.loaders.load_imagefolder with loader: memory) resizes every image once and
holds them as uint8 [N, C, S, S]: 15 GB for ImageNet at 64 px, 193 GB at 224 px. `FolderImages` stands in for
that array wherever a model reads images (training, evaluation, features): it has the array's `shape`
and `len`, `x[idx]` decodes those images, and `batches()`/`chunks()` feed training and evaluation through
a torch DataLoader whose worker processes read and decode files in parallel with the model's work.

Memory is bounded by construction, whatever N is: the file list (a path per image), one epoch's order
(int64 per point), and `workers x PREFETCH` batches of B x C x S x S uint8 in flight (ImageNet at
B = 512, S = 224, 8 workers: 16 x 77 MB = 1.2 GB). Nothing grows with N but the two per-point lists.

Transforms (torchvision's ImageNet recipe, done with PIL in one resampling step from the original):
- training with `random_resized_crop`: a crop of 8-100 % of the area and aspect 3/4-4/3 (torchvision's
  RandomResizedCrop, 10 tries then a centre crop), resized to S x S; flips come from the epoch plan.
- evaluation of such a recipe: the centre S/0.875 crop (resize to 256, centre-crop 224 for S = 224).
- without it (and for digits-like folders): the whole image resized to S x S, exactly what the in-memory
  path holds, so both paths train the same member from the same files (tests/test_stream.py).
Batches are a function of (seed, epoch) alone: the order and flips come from memgen.ensemble.common's
epoch_plan, the crop of step s from a generator seeded by (seed, epoch, s), so a resumed
member redraws the batches it would have drawn, whatever the number of workers.
Channels: a folder whose every image is grey (PIL mode L, 1, I, ... or a palette of greys) is read as one
channel, C = 1, on both paths; a single colour image makes it C = 3 (RGB). `folder_channels` decides from
the headers, stopping at the first colour image (ImageNet: its first file).

Decoding on the GPU: on CUDA, when every file is a JPEG, workers only read bytes and find the crop (from
the header); torchvision.io.decode_jpeg decodes the batch on the GPU (nvJPEG) and the crop is resized
there. Chosen over NVIDIA DALI because it ships with the pinned torchvision (no second CUDA stack to pin
and no separate pipeline definition to keep equal to the CPU one). Not measured here (no GPU on the
machine that wrote it): benchmarks/loader_throughput.py measures it where CUDA is present.
"""

import functools
import hashlib
import io
import math
import os
from pathlib import Path

import numpy as np
import torch

from memgen.errors import MemgenError, fail

PREFETCH = 2  # batches each worker prepares ahead of the model
STATS_SAMPLE = 1024  # images the normalisation constants are estimated on (all of them when fewer)
CENTER_FRACTION = 0.875  # evaluation crop: 224 of 256, as torchvision's ImageNet reference
RRC_SCALE = (0.08, 1.0)  # RandomResizedCrop's defaults (torchvision)
RRC_RATIO = (3 / 4, 4 / 3)


def default_workers() -> int:
    """Decoding processes: every CPU the job may use (SLURM's --cpus-per-task sets the affinity)."""
    return len(os.sched_getaffinity(0))


# ---- boxes: which part of the original image becomes the S x S input -------------------------------------
def center_box(w: int, h: int) -> tuple[float, float, float, float]:
    """The centre crop of the evaluation transform, in original pixels: resizing the short side to S/0.875
    and cropping S is the same as cropping a square of 0.875 x the short side, then resizing to S."""
    side = CENTER_FRACTION * min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    return (left, top, left + side, top + side)


def rrc_box(w: int, h: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop.get_params, drawn from `rng` (so from (seed, epoch, step))."""
    area = w * h
    log_ratio = (math.log(RRC_RATIO[0]), math.log(RRC_RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*RRC_SCALE)
        aspect = math.exp(rng.uniform(*log_ratio))
        cw, ch = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            return (left, top, left + cw, top + ch)
    ratio = w / h  # fallback: the largest centre crop within the ratio range
    if ratio < RRC_RATIO[0]:
        cw, ch = w, round(w / RRC_RATIO[0])
    elif ratio > RRC_RATIO[1]:
        ch, cw = h, round(h * RRC_RATIO[1])
    else:
        cw, ch = w, h
    left, top = (w - cw) // 2, (h - ch) // 2
    return (left, top, left + cw, top + ch)


# ---- one image ---------------------------------------------------------------------------------------------
# PIL modes without colour: 1-bit, 8-bit grey, grey + alpha, 16- and 32-bit integer grey, float grey
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


def _broken(path: Path, e: Exception):
    return fail(
        f"image {path} cannot be decoded ({type(e).__name__}: {e})",
        "replace or remove the file (memgen never drops a training point silently), then rerun",
    )


def read_image(path: Path):
    """The image as stored (its own PIL mode), fully decoded; a file PIL cannot decode fails naming it
    (never skipped: a skipped file would silently drop a training point)."""
    from PIL import Image

    try:
        img = Image.open(path)
        img.load()
        return img
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError... for broken files
        raise _broken(path, e) from None


def open_image(path: Path, pil_mode: str = "RGB"):
    """The image fully decoded and converted to `pil_mode`: RGB, or L for a folder of grey images."""
    return read_image(path).convert(pil_mode)


def is_grey(img) -> bool:
    """An image without colour: a grey PIL mode, or a palette whose every entry is a grey."""
    if img.mode == "P":
        pal = img.getpalette() or []  # r, g, b, r, g, b, ...
        return pal[0::3] == pal[1::3] == pal[2::3]
    return img.mode in GREY_MODES


def folder_channels(base: Path, files) -> int:
    """1 when every image is grey, else 3 (a single colour image makes the folder colour): a grey folder is
    read as one channel, as Fashion-MNIST's files are, not as three equal ones (3x an MLP's first layer).
    Reads headers only and stops at the first colour image."""
    from PIL import Image

    for f in files:
        path = Path(base) / (f.decode() if isinstance(f, bytes) else f)
        try:
            with Image.open(path) as img:
                if not is_grey(img):
                    return 3
        except Exception as e:
            raise _broken(path, e) from None
    return 1 if len(files) else 3


def load_image(path: Path, size: int, mode: str, rng=None, channels: int = 3) -> np.ndarray:
    """uint8 [channels, size, size] (1: grey, 3: RGB): mode "resize" (whole image), "center" (evaluation
    crop), "rrc" (training)."""
    from PIL import Image

    img = open_image(path, "L" if channels == 1 else "RGB")
    # box None ("resize"): the whole image, exactly memgen.data.loaders's in-memory resize
    out = np.asarray(img.resize((size, size), Image.BILINEAR, box=crop_box(mode, *img.size, rng)))
    return out[None] if channels == 1 else out.transpose(2, 0, 1)


def crop_box(mode: str, w: int, h: int, rng=None):
    """The part of a w x h image a mode turns into the input: None (the whole image) for "resize"."""
    if mode == "resize":
        return None
    return center_box(w, h) if mode == "center" else rrc_box(w, h, rng)


def _step_rng(seed: int, epoch: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, 0xC4, step])


# ---- batches, made in DataLoader workers ----------------------------------------------------------------
class _Batches(torch.utils.data.Dataset):
    """Item b = batch b: the images of `groups[b]`, decoded (CPU) or as raw bytes + crop box (GPU decode).

    A worker returns a failure as a value, not an exception: the DataLoader would wrap an exception in a
    traceback of its own, and the job must end with the one-line message naming the file."""

    def __init__(self, base, files, size, groups, mode, seed=0, epoch=0, raw=False, channels=3):
        self.base, self.files, self.size, self.groups = base, files, size, groups
        self.mode, self.seed, self.epoch, self.raw, self.channels = mode, seed, epoch, raw, channels

    def __len__(self):
        return len(self.groups)

    def __getitem__(self, b):
        rng = _step_rng(self.seed, self.epoch, b) if self.mode == "rrc" else None
        try:
            if self.raw:
                return [self._raw(i, rng) for i in self.groups[b]]
            out = np.empty((len(self.groups[b]), self.channels, self.size, self.size), dtype=np.uint8)
            for j, i in enumerate(self.groups[b]):
                out[j] = load_image(
                    self.base / self.files[i].decode(), self.size, self.mode, rng, self.channels
                )
            return torch.from_numpy(out)
        except MemgenError as e:
            return e

    def _raw(self, i, rng):
        from PIL import Image

        path = self.base / self.files[i].decode()
        data = path.read_bytes()
        try:
            w, h = Image.open(io.BytesIO(data)).size  # the header only
        except Exception as e:
            raise fail(
                f"image {path} cannot be read ({e})", "replace or remove the file, then rerun"
            ) from None
        box = crop_box(self.mode, w, h, rng) or (0, 0, w, h)
        return torch.frombuffer(bytearray(data), dtype=torch.uint8), box, str(path)


def _worker_init(_):
    torch.set_num_threads(1)  # each worker decodes one image at a time; torch threads would oversubscribe


_DECODE_STREAMS: dict = {}  # device -> the CUDA stream JPEGs are decoded on


def _gpu_decode(items, size: int, device, channels: int = 3) -> torch.Tensor:
    """nvJPEG-decode a batch of (bytes, box, path) on `device` (grey or RGB), crop each box and resize it to
    size x size."""
    import torch.nn.functional as F
    from torchvision.io import ImageReadMode, decode_jpeg

    # nvJPEG's hardware decoder writes its output before work already queued on the stream has run
    # (pytorch/vision#9606): decoding on a stream of its own keeps the caching allocator from handing it
    # memory the member's stream has just freed; the member's stream then waits for the decode.
    current = torch.cuda.current_stream(device)
    side = _DECODE_STREAMS.setdefault(str(device), torch.cuda.Stream(device))
    try:
        with torch.cuda.stream(side):
            read = ImageReadMode.GRAY if channels == 1 else ImageReadMode.RGB
            imgs = decode_jpeg([b for b, _, _ in items], mode=read, device=device)
        current.wait_stream(side)
        for img in imgs:
            img.record_stream(current)  # freed only after the member's stream has used it
    except RuntimeError as e:
        names = ", ".join(p for _, _, p in items[:3])
        raise fail(
            f"GPU JPEG decoding failed for a batch of {names}, ... ({e})",
            "set the dataset's gpu_decode: false to decode on the CPU and find the file",
        ) from None
    out = torch.empty((len(items), channels, size, size), dtype=torch.uint8, device=device)
    for j, (img, (_, box, _)) in enumerate(zip(imgs, items, strict=True)):
        left, top, right, bottom = (round(v) for v in box)  # whole pixels (PIL takes the fractional box)
        crop = img[:, top:bottom, left:right].float()[None]
        out[j] = (
            F.interpolate(crop, size=(size, size), mode="bilinear", antialias=True)[0].round().clamp(0, 255)
        )
    return out


class FolderImages:
    """The images of one split of an image folder, read on demand (see the module docstring)."""

    def __init__(
        self, base, files, size: int, mode: str = "resize", workers=None, gpu_decode=True, channels=None
    ):
        self.base = Path(base)
        # UTF-8 bytes, not numpy str (4 bytes a character): ImageNet's 1.28 M paths take ~50 MB, not 200 MB
        is_bytes = isinstance(files, np.ndarray) and files.dtype.kind == "S"
        self.files = files if is_bytes else np.array([str(f).encode() for f in files], dtype=bytes)
        self.size, self.mode = int(size), mode
        # 1 for a folder of grey images, else 3; None: read from the files' headers (folder_channels)
        self.channels = int(channels) if channels is not None else folder_channels(self.base, self.files)
        self.workers = default_workers() if workers is None else int(workers)
        self.gpu_decode = bool(gpu_decode)
        self._stats = None

    # ---- the array interface the in-memory path offers
    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), self.channels, self.size, self.size)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, idx) -> np.ndarray:
        """Evaluation-transformed images as uint8 [n, C, S, S] (for figures and small subsets)."""
        idx = np.arange(len(self))[idx]
        if idx.ndim == 0:
            return self[[int(idx)]][0]
        return np.concatenate([c.numpy() for c in self.chunks(256, indices=idx)] or [self._empty()])

    def _empty(self):
        return np.zeros((0, self.channels, self.size, self.size), dtype=np.uint8)

    def evaluating(self, random_resized_crop: bool) -> "FolderImages":
        """The same files with the evaluation transform of a recipe: centre crop after random-resized-crop
        training, the whole image otherwise."""
        view = FolderImages(
            self.base,
            self.files,
            self.size,
            "center" if random_resized_crop else "resize",
            self.workers,
            self.gpu_decode,
            self.channels,
        )
        view._stats = self._stats
        return view

    def digest(self) -> str:
        """What a resume state must match: the files, their order, the size, the transform and the channels
        (3 hashes as before channels were counted, so colour folders' saved states stay valid)."""
        grey = "1\0" if self.channels == 1 else ""
        h = hashlib.sha256(f"{self.base}\0{self.size}\0{self.mode}\0{grey}".encode())
        h.update(b"\0".join(self.files.tolist()))
        return h.hexdigest()[:16]

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and std in [0, 1] of up to STATS_SAMPLE whole images (a fixed, sorted sample):
        the in-memory path's formula, on a sample. With N <= STATS_SAMPLE it is every image, in order, so
        both paths normalise identically."""
        if self._stats is None:
            n = len(self)
            pick = (
                np.sort(np.random.default_rng(0).choice(n, STATS_SAMPLE, replace=False))
                if n > STATS_SAMPLE
                else np.arange(n)
            )
            whole = FolderImages(
                self.base, self.files, self.size, "resize", self.workers, False, self.channels
            )
            x = whole[pick]
            x = x.astype(np.float64) / 255
            self._stats = (x.mean(axis=(0, 2, 3)), np.maximum(x.std(axis=(0, 2, 3)), 1e-3))
        return self._stats

    # ---- feeding a model
    def _use_gpu(self, device) -> bool:
        """nvJPEG on CUDA when every file is a JPEG (it decodes nothing else); the CPU path otherwise."""
        return self.gpu_decode and torch.device(device).type == "cuda" and self._all_jpeg

    @functools.cached_property
    def _all_jpeg(self) -> bool:
        """Every file a JPEG (once per folder, not per epoch: 1.28 M paths take a second to scan)."""
        low = np.char.lower(self.files)
        return bool((np.char.endswith(low, b".jpg") | np.char.endswith(low, b".jpeg")).all())

    def _feed(self, groups, mode, seed, epoch, device, workers):
        device = torch.device(device)
        gpu = self._use_gpu(device)
        data = _Batches(self.base, self.files, self.size, groups, mode, seed, epoch, gpu, self.channels)
        loader = torch.utils.data.DataLoader(
            data,
            batch_size=None,  # items are whole batches
            num_workers=workers,
            prefetch_factor=PREFETCH if workers else None,
            worker_init_fn=_worker_init if workers else None,
            pin_memory=device.type == "cuda" and not gpu,
            collate_fn=_identity,
        )
        for item in loader:
            if isinstance(item, MemgenError):
                raise item
            if gpu:
                yield _gpu_decode(item, self.size, device, self.channels)
            else:
                yield item.to(device, non_blocking=True)

    def batches(
        self,
        order: np.ndarray,
        batch_size: int,
        seed: int,
        epoch: int,
        random_resized_crop: bool,
        device="cpu",
        workers=None,
    ):
        """One epoch's training batches (uint8 [b, C, S, S] on `device`): the points `order` (training
        indices, in the epoch plan's order) in steps of batch_size, cropped as the recipe says."""
        groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        mode = "rrc" if random_resized_crop else "resize"
        return self._feed(groups, mode, seed, epoch, device, self.workers if workers is None else workers)

    def chunks(self, chunk: int, device="cpu", indices=None):
        """Evaluation-transformed images in consecutive chunks, in index order (or of `indices`)."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices)
        groups = [idx[i : i + chunk] for i in range(0, len(idx), chunk)]
        workers = min(self.workers, len(groups))
        return self._feed(groups, self.mode, 0, 0, device, workers)


def _identity(x):
    return x


def iter_chunks(x, chunk: int, device="cpu"):
    """uint8 chunks of an image array or a FolderImages, on `device`, in order."""
    if isinstance(x, FolderImages):
        yield from x.chunks(chunk, device)
        return
    for i in range(0, len(x), chunk):
        yield torch.as_tensor(x[i : i + chunk], device=device)
