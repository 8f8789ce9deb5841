"""Streaming loader throughput: images/s of read + decode + augment (memgen.data.stream.FolderImages) on this
machine's cores, beside the rate one GPU member would consume them at.

    .venv/bin/python benchmarks/loader_throughput.py                    # ~1 min on 2 cores
    .venv/bin/python benchmarks/loader_throughput.py --images 1024 --workers 1,4,16 --batch-size 64
    .venv/bin/python benchmarks/loader_throughput.py --gpu-rate 2500    # another anchor for the GPU member
    .venv/bin/python benchmarks/loader_throughput.py --smoke            # 16 images in a temporary folder

Data: a generated image folder (train/<class>/*.jpg, 8 classes, seeded) at ImageNet-like sizes (mostly
500 x 375, some 375 x 500, 500 x 333, 333 x 500, 500 x 400), JPEG quality 90, with photo-like content
(gradients, shapes, 1/f texture and grain) so the files are about ImageNet's ~110 KB on average: random
noise would compress, and decode, unlike photos. Written once under benchmarks/out/jpegs/<images>/
(git-ignored), reused after; generation runs in spawned processes so it does not count in the memory figures.

Timed, each after one untimed warm-up pass over the same files (imports, page cache, worker start-up):
  - read bytes only, and PIL decode only (open + load + convert to RGB), in this process: where time goes;
  - training batches: FolderImages.batches(random_resized_crop=True) on the CPU, batch --batch-size,
    for each of --workers (DataLoader worker processes; 0 = in this process); the flip is done later on
    the device and is not part of this;
  - evaluation chunks: the centre crop (mode "center", FolderImages.chunks) at the same worker counts;
  - with CUDA: nvJPEG decode alone (torchvision.io.decode_jpeg of in-memory batches), and the GPU decode
    path (gpu_decode=True, device "cuda": workers read bytes and find the crop, the GPU decodes and
    resizes), timed with torch.cuda.synchronize; how far its first training batch is from the CPU
    path's (same seed and epoch, so the same crops); and whether decode_jpeg waits for the work queued on
    the caller's stream before writing its outputs (pytorch/vision#9606; see stream_ordering).
Exit status 1 when a path fails or the decoder overwrote memory still in use, else 0.
Printed: one table (images/s, images/s per core busy, images per CPU-second from getrusage of this process
and its reaped workers), the cores a GPU member would need at the measured per-core rate, and peak RSS
(ru_maxrss of this process and of its largest child) against the in-flight bound of memgen.data.stream.

The GPU member's rate is an assumption, not measured here: ResNet-50 at 224 px training in bf16 on one
H200, about 3,000 images/s (--gpu-rate). Files are read from the page cache (they were just written and
read by the warm-up pass): a cold disk or a network file system adds its own limit on top.
"""

import argparse
import json
import math
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "jpegs"
GEN_VERSION = 1  # bump when the generator changes: cached folders of another version are rewritten
CLASSES = 8
QUALITY = 90
# (width, height) and how often: ImageNet's most common shapes (500 x 375 dominates)
SHAPES = [((500, 375), 0.55), ((375, 500), 0.15), ((500, 333), 0.15), ((333, 500), 0.05), ((500, 400), 0.10)]
SMOKE = {"images": 16, "workers": "0,1", "batch_size": 8, "size": 64}


# ---- the image folder ------------------------------------------------------------------------------------
def _pink(rng: np.random.Generator, h: int, w: int, alpha: float) -> np.ndarray:
    """Unit-variance noise with a 1/f^alpha spectrum: the texture statistics of natural images."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    spec = (rng.normal(size=f.shape) + 1j * rng.normal(size=f.shape)) / f**alpha
    spec[0, 0] = 0.0
    x = np.fft.irfft2(spec, s=(h, w))
    return (x / x.std()).astype(np.float32)


def photo(seed: int, i: int, w: int, h: int):
    """A photo-like RGB image: a lit gradient with slow waves, a few dozen filled shapes, slightly blurred,
    then 1/f texture (per-image strength, so file sizes spread as a photo collection's do) and grain."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng([seed, i])
    sh, sw = h // 4, w // 4  # the light is smooth: drawn at a quarter of the size, then enlarged
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32) * 4
    img = rng.uniform(40, 200, 3) + rng.uniform(-60, 60, 3) * (xx / w)[..., None]
    img = img + rng.uniform(-60, 60, 3) * (yy / h)[..., None]
    for _ in range(6):
        fx, fy = rng.uniform(-0.05, 0.05, 2)
        img = img + rng.uniform(5, 25, 3) * np.sin(fx * xx + fy * yy + rng.uniform(0, 2 * np.pi))[..., None]
    img = np.asarray(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC))
    im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        s = rng.uniform(0.02, 0.4) ** 1.5 * min(w, h) * 2
        x0, y0 = rng.uniform(0, 1) * w - s / 2, rng.uniform(0, 1) * h - s / 2
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        box = [x0, y0, x0 + s * rng.uniform(0.5, 2), y0 + s]
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            corners = rng.integers(3, 7)
            draw.polygon(
                [(x0 + s * rng.uniform(0, 2), y0 + s * rng.uniform(0, 2)) for _ in range(corners)], colour
            )
    a = np.asarray(im.filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float32)
    texture = _pink(rng, h, w, 0.7)[..., None] * rng.uniform(0.6, 1.4, 3).astype(np.float32)
    a += np.float32(rng.uniform(20, 40)) * texture + rng.normal(scale=3.0, size=(h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def _write_one(job) -> int:
    folder, seed, i, w, h = job
    path = Path(folder) / "train" / f"c{i % CLASSES}" / f"{i:06d}.jpg"
    photo(seed, i, w, h).save(path, "JPEG", quality=QUALITY)
    return path.stat().st_size


def image_folder(n: int, seed: int = 0, root: Path = OUT) -> Path:
    """<root>/<n>/ (default benchmarks/out/jpegs/<n>/): n JPEGs in train/c0..c7/, written once (spawned
    processes, all cores)."""
    base = root / str(n)
    marker = base / ".complete"
    want = {"images": n, "seed": seed, "version": GEN_VERSION, "quality": QUALITY}
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return base
    tmp = base.with_name(base.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    for c in range(CLASSES):
        (tmp / "train" / f"c{c}").mkdir(parents=True)
    rng = np.random.default_rng([seed, 0xF00])
    pick = rng.choice(len(SHAPES), size=n, p=[p for _, p in SHAPES])
    jobs = [(str(tmp), seed, i, *SHAPES[k][0]) for i, k in enumerate(pick)]
    t = time.perf_counter()
    # spawn, not fork: the children import numpy and PIL only, so their peak RSS stays below the loader
    # workers' and the RUSAGE_CHILDREN figure printed at the end is the loader's
    with mp.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        sizes = pool.map(_write_one, jobs, chunksize=16)
    shutil.rmtree(base, ignore_errors=True)
    tmp.rename(base)
    marker.write_text(json.dumps(want))
    print(f"wrote {n} JPEGs ({sum(sizes) / 2**20:.0f} MiB) to {base} in {time.perf_counter() - t:.0f} s")
    return base


# ---- timing ----------------------------------------------------------------------------------------------
def cpu_seconds() -> float:
    """User + system CPU time of this process and of its children that have ended (DataLoader workers are
    joined when their epoch ends, so a finished pass's workers are counted)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def stream_ordering(data: list, sizes: list, trials: int = 20, side: bool = False) -> int:
    """Trials in which decode_jpeg(device="cuda") overwrote memory that kernels queued on the caller's
    stream had still to read (pytorch/vision#9606: the outputs come from blocks just freed on that stream,
    and nvJPEG's hardware decoder does not wait for it). memgen.data.stream._gpu_decode calls it with a
    member's training step still queued. Each trial fills one victim per image (the decoded image's shape,
    so the allocator hands its block to the decoder), queues a ~0.1 s kernel then a sum of each victim,
    frees them, decodes, and checks the sums. side=True decodes with another stream current: the control."""
    import torch
    from torchvision.io import ImageReadMode, decode_jpeg

    bad = 0
    other = torch.cuda.Stream() if side else None
    for _ in range(trials):
        victims = [torch.full((3, h, w), 7, dtype=torch.uint8, device="cuda") for w, h in sizes]
        torch.cuda.synchronize()
        torch.cuda._sleep(200_000_000)
        sums = [v.sum() for v in victims]
        want = [7 * v.numel() for v in victims]
        del victims
        if other is None:
            decode_jpeg(data, mode=ImageReadMode.RGB, device="cuda")
        else:
            with torch.cuda.stream(other):
                decode_jpeg(data, mode=ImageReadMode.RGB, device="cuda")
        torch.cuda.synchronize()
        bad += any(int(s) != n for s, n in zip(sums, want, strict=True))
    return bad


def others_busy(seconds: float = 1.0) -> float:
    """Cores busy while this process sleeps (/proc/stat over `seconds`): other jobs on a shared machine
    lower every figure, so the table says how many there were."""

    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v[:8]), v[3] + v[4]  # all but guest time (counted in user already), idle + iowait

    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(1, t1 - t0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1024, help="JPEGs in the generated folder (default 1024)")
    ap.add_argument(
        "--workers",
        help="DataLoader worker counts, e.g. 0,1,2 (default 0, 1, 2 and powers of 2 up to the CPUs)",
    )
    ap.add_argument(
        "--batch-size", type=int, default=128, help="images per batch and per chunk (default 128)"
    )
    ap.add_argument("--size", type=int, default=224, help="side of the model's input (default 224)")
    ap.add_argument(
        "--gpu-rate",
        type=float,
        default=3000.0,
        help="images/s one GPU member consumes (assumed: ResNet-50, 224 px, bf16, one H200; default 3000)",
    )
    ap.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes {SMOKE}: it runs, the figures mean nothing"
    )
    args = ap.parse_args()
    if args.smoke:  # explicit options still win over the smoke sizes
        ap.set_defaults(**SMOKE)
        args = ap.parse_args()
        with tempfile.TemporaryDirectory(prefix="loader_throughput_smoke.") as tmp:
            return measure(args, image_folder(args.images, root=Path(tmp)))
    return measure(args, image_folder(args.images))  # before torch is imported and CUDA is touched


def measure(args, base: Path) -> int:
    """Every timed path on the folder `base`; prints the table and returns the exit status."""

    import torch

    from memgen.data.loaders import folder_classes, image_files
    from memgen.data.stream import PREFETCH, FolderImages, open_image

    cores = len(os.sched_getaffinity(0))
    if args.workers:
        workers = [int(v) for v in args.workers.split(",")]
    else:
        workers = [0, 1, 2] + [2**k for k in range(2, 10) if 2**k <= cores]
    files = [f for f, _ in image_files(base, "train", folder_classes(base))]
    n, bsz, size = len(files), args.batch_size, args.size
    paths = [base / f for f in files]
    mean_kb = np.mean([p.stat().st_size for p in paths]) / 1000
    shapes: dict = {}
    from PIL import Image

    for p in paths:
        wh = Image.open(p).size
        shapes[wh] = shapes.get(wh, 0) + 1
    cuda = torch.cuda.is_available()
    shown = base.relative_to(REPO) if base.is_relative_to(REPO) else base  # --smoke: a temporary folder
    busy_before = others_busy()
    cpu_name = next(
        (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "CPU"
    )
    print(
        f"{n} JPEGs in {shown}: mean {mean_kb:.0f} KB, quality {QUALITY}, "
        + ", ".join(f"{c} at {w}x{h}" for (w, h), c in sorted(shapes.items(), key=lambda kv: -kv[1]))
    )
    print(
        f"{cores} CPU cores ({cpu_name}), {busy_before:.1f} of them busy with other processes (1 s "
        f"sample); torch {torch.__version__}; input {size} px, batch {bsz}; "
        + (f"GPU: {torch.cuda.get_device_name(0)}" if cuda else "no GPU: the GPU decode path is not measured")
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    rows = []  # (what, workers, images/s, per core, images per CPU-s, seconds) or (what, workers, error)

    def run(what: str, w, busy: int, fn) -> None:
        """fn(epoch) -> images: one warm-up call (epoch 0), then one timed call (epoch 1)."""
        try:
            fn(0)
            if cuda:
                torch.cuda.synchronize()
            t, c = time.perf_counter(), cpu_seconds()
            done = fn(1)
            if cuda:
                torch.cuda.synchronize()
            seconds, cpu = time.perf_counter() - t, cpu_seconds() - c
            if done != n:
                raise RuntimeError(f"{done} images came back, not {n}")
        except Exception as e:  # reported in the table, and fails the run at the end
            rows.append((what, w, f"FAILED: {type(e).__name__}: {e}"))
            print(f"  {what:<34} {w!s:>7}  FAILED: {type(e).__name__}: {e}", flush=True)
            return
        rate = n / seconds
        rows.append((what, w, rate, rate / busy, n / cpu, seconds))

    def consume(it, device: str) -> int:
        got = 0
        for x in it:
            if x.dtype != torch.uint8 or tuple(x.shape[1:]) != (3, size, size) or x.device.type != device:
                raise RuntimeError(f"a batch of {x.dtype} {tuple(x.shape)} on {x.device}")
            got += len(x)
        return got

    order_of = [np.random.default_rng([0, e]).permutation(n) for e in range(2)]  # one epoch's order each

    def train(w: int, device: str, gpu: bool):
        imgs = FolderImages(base, files, size, "center", workers=w, gpu_decode=gpu)
        return lambda e: consume(imgs.batches(order_of[e], bsz, 0, e, True, device=device, workers=w), device)

    def evaluate(w: int, device: str, gpu: bool):
        imgs = FolderImages(base, files, size, "center", workers=w, gpu_decode=gpu)
        return lambda e: consume(imgs.chunks(bsz, device=device), device)

    def read_only(_):
        return sum(1 for p in paths if p.read_bytes())

    def decode_only(_):
        return sum(1 for p in paths if open_image(p).size)

    run("read bytes only", "-", 1, read_only)
    run("PIL decode only (open+load+RGB)", "-", 1, decode_only)
    for w in workers:
        run("train: decode + RRC, CPU", w, min(max(w, 1), cores), train(w, "cpu", False))
    for w in workers:
        run("eval: decode + centre, CPU", w, min(max(w, 1), cores), evaluate(w, "cpu", False))
    busy_after = others_busy()
    agreement = hazard = None
    if cuda:
        from torchvision.io import ImageReadMode, decode_jpeg

        data = [torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8) for p in paths]

        def nvjpeg_only(_):
            got = 0
            for i in range(0, n, bsz):
                got += len(decode_jpeg(data[i : i + bsz], mode=ImageReadMode.RGB, device="cuda"))
            return got

        run("nvJPEG decode only (bytes in RAM)", "-", 1, nvjpeg_only)
        for w in workers:
            run("train: GPU decode + RRC", w, min(max(w, 1), cores), train(w, "cuda", True))
        for w in workers:
            run("eval: GPU decode + centre", w, min(max(w, 1), cores), evaluate(w, "cuda", True))
        try:  # the same (seed, epoch) draws the same crops on both paths: the images should nearly agree
            first = {}
            for gpu in (False, True):
                imgs = FolderImages(base, files, size, "center", workers=0, gpu_decode=gpu)
                first[gpu] = next(iter(imgs.batches(order_of[1], bsz, 0, 1, True, device="cuda", workers=0)))
            agreement = (first[True].float() - first[False].float()).abs().mean().item()
        except Exception as e:
            agreement = f"FAILED: {type(e).__name__}: {e}"
        try:
            sizes = [Image.open(p).size for p in paths[:16]]
            hazard = (stream_ordering(data[:16], sizes), stream_ordering(data[:16], sizes, side=True))
        except Exception as e:
            hazard = f"FAILED: {type(e).__name__}: {e}"

    # ---- the table
    print()
    print(f"{'path':<34} {'workers':>7} {'images/s':>9} {'per core':>9} {'img/CPU-s':>9} {'seconds':>8}")
    for r in rows:
        if len(r) == 3:
            print(f"{r[0]:<34} {r[1]!s:>7}  {r[2]}")
        else:
            print(f"{r[0]:<34} {r[1]!s:>7} {r[2]:9,.0f} {r[3]:9,.0f} {r[4]:9,.0f} {r[5]:8.2f}")
    print(f"cores busy with other processes after the CPU rows: {busy_after:.1f} (1 s sample)")
    print(
        "per core = images/s / cores busy (max(workers, 1), at most the machine's); img/CPU-s = images per "
        "second of CPU time of this process and its workers (getrusage)"
    )
    if isinstance(agreement, float):
        print(f"GPU vs CPU path, same first training batch: mean |difference| {agreement:.2f} of 255 levels")
    elif agreement:
        print(f"GPU vs CPU path comparison {agreement}")
    if isinstance(hazard, tuple):
        print(
            f"stream ordering (pytorch/vision#9606): decode_jpeg on CUDA overwrote memory that queued "
            f"kernels still read in {hazard[0]} of 20 trials ({hazard[1]} of 20 with another stream current)"
            + (
                "; memgen.data.stream._gpu_decode is exposed: it decodes with the training step still queued"
                if hazard[0]
                else ""
            )
        )
    elif hazard:
        print(f"stream ordering check {hazard}")

    # ---- beside a GPU member
    print()
    print(
        f"GPU member (assumed, not measured): {args.gpu_rate:,.0f} images/s = ResNet-50 at 224 px training "
        "in bf16 on one H200 (--gpu-rate)"
    )
    shared = max(busy_before, busy_after) > 0.25
    for what in ("train: decode + RRC, CPU", "eval: decode + centre, CPU"):
        ok = {r[1]: r for r in rows if r[0] == what and len(r) == 6}
        if not ok:
            continue
        alone = ok.get(1) or ok.get(0) or next(iter(ok.values()))  # one process decoding, the rest idle
        busy = ok[max((w for w in ok if w <= cores), default=max(ok))]  # every core decoding
        print(
            f"  {what}: {alone[2]:,.0f} images/s with {alone[1]} worker(s) ({alone[4]:,.0f} per CPU-second), "
            f"{busy[2]:,.0f} with {busy[1]} ({busy[2] / alone[2]:.2f} x); this machine gives "
            f"{100 * max(r[2] for r in ok.values()) / args.gpu_rate:.0f} % of one member's rate"
        )
        print(
            f"    {args.gpu_rate:,.0f} images/s needs {math.ceil(args.gpu_rate / alone[4])} cores at "
            f"{alone[4]:,.0f} images per CPU-second ({math.ceil(args.gpu_rate / alone[3])} at the wall-clock "
            f"{alone[3]:,.0f} images/s of one worker, {math.ceil(args.gpu_rate / busy[3])} at {busy[3]:,.0f} "
            f"per core with {min(max(busy[1], 1), cores)} busy)"
        )
        if busy[1] > 1 and busy[2] < 1.3 * alone[2] and not shared:
            print(
                f"    the cores do not add up here: {busy[1]} busy processes each run at "
                f"{busy[3] / alone[3]:.0%} of one alone (SMT siblings, or a host that shares them); count "
                "cores at the per-core rate of the machine that will train"
            )
    if shared:
        print(
            f"  other processes kept {max(busy_before, busy_after):.1f} of the {cores} cores busy: the "
            "wall-clock figures are low and the worker counts do not scale; images per CPU-second is the "
            "figure to use"
        )
    if any(r[0].startswith("train: GPU") and len(r) == 6 for r in rows):
        best = max((r for r in rows if r[0].startswith("train: GPU") and len(r) == 6), key=lambda r: r[2])
        print(
            f"  train, GPU decode: {best[2]:,.0f} images/s at {best[1]} workers = "
            f"{best[2] / args.gpu_rate:.1f} x one member's rate"
        )

    # ---- memory
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    most = max([w for w in workers] + [0])
    flight = max(most, 1) * PREFETCH * bsz * 3 * size * size / 2**20
    print()
    print(
        f"peak RSS: this process {own:,.0f} MiB ({rss_before:,.0f} MiB before the first pass), largest "
        f"worker {child:,.0f} MiB; the tree at {most} workers <= {own + most * child:,.0f} MiB "
        "(pages shared after fork count in each)"
    )
    print(
        f"in flight by construction (memgen.data.stream): max(workers, 1) x PREFETCH {PREFETCH} x {bsz} x 3 "
        f"x {size} x {size} uint8 = {flight:,.0f} MiB at {most} workers; nothing grows with the number of "
        "images but a path and an index per image"
    )
    broken = isinstance(agreement, str) or isinstance(hazard, str) or bool(hazard and hazard[0])
    return 1 if any(len(r) == 3 for r in rows) or broken else 0


if __name__ == "__main__":
    sys.exit(main())
