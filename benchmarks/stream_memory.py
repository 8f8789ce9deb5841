"""Memory of a streaming member at ImageNet's N = 1,281,167: measured over its first minute of training.

    .venv/bin/python benchmarks/stream_memory.py [--seconds 60] [--workers 2] [--batch-size 64]
    .venv/bin/python benchmarks/stream_memory.py --smoke   # 64 points at 64 px: the member trains its epoch

A member job's memory that grows with N is its per-point state: the file list, labels, its training
indices, one epoch's plan (order, crop shifts, flips) and the compact outputs it accumulates (10 bytes a
point). The rest is bounded by the batch: `workers x PREFETCH` decoded batches in flight and the model. This
benchmark builds exactly that state at N = 1,281,167 (paths cycling over a few generated 500 x 375 JPEGs,
1,000 classes, a rate-0.95 subset), starts memgen's own training loop on it (train_sequential, streaming
loader, random-resized crops to 224 px, a small CNN) in a child process, and samples the proportional set
size (PSS: shared pages split among the processes sharing them, so forked workers are not counted twice)
of the job and its decoding workers every 0.5 s until it stops the job after --seconds.

It measures the first epoch's steady state; an epoch costs the same memory as the next (the plan is
redrawn, not accumulated). Outputs are bounded by construction: 10 bytes x N = 12.8 MB, plus one chunk of
logits (1,024 x 1,000 float32 = 4 MB) at a time (memgen.ensemble.train.predict_chunks).
"""

import argparse
import multiprocessing as mp
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
N_IMAGENET = 1_281_167
# --smoke: a member that ends its one epoch by itself (so a broken training loop fails the run), in seconds
SMOKE = {"n": 64, "size": 64, "workers": 1, "batch_size": 8, "jpegs": 8, "baseline_seconds": 3}


def make_jpegs(folder: Path, count: int = 64) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    names = []
    for i in range(count):
        name = f"img{i:03d}.jpg"
        if not (folder / name).exists():
            w, h = (500, 375) if i % 4 else (375, 500)
            yy, xx = np.mgrid[0:h, 0:w]
            img = np.stack([(xx * (i + 3)) % 256, (yy * 2 + i * 7) % 256, (xx + yy) % 256], -1)
            img = np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(folder / name, "JPEG", quality=90)
        names.append(name)
    return names


def member(folder: str, names: list[str], workers: int, batch_size: int, n: int, size: int) -> None:
    """The member job: memgen's training loop on an N = 1.28 M streamed folder (stopped from outside)."""
    import torch

    from memgen.data.stream import FolderImages
    from memgen.ensemble.train import Job, train_sequential
    from memgen.recipe import TrainConfig

    torch.set_num_threads(1)
    files = [names[i % len(names)] for i in range(n)]
    images = FolderImages(folder, files, size, "center", workers, gpu_decode=False)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 1000, n)
    indices = [np.flatnonzero(rng.random(n) < 0.95)]
    mean, std = np.full(3, 0.45), np.full(3, 0.25)  # fixed: the stats sample is not what is measured
    job = Job(images, labels, indices, [0], "cnn", 1000, mean, std)
    cfg = TrainConfig(epochs=1, batch_size=batch_size, random_resized_crop=True, flip=True,
                      checkpoint_every=0, batched=False, model={"width": 2})  # fmt: skip
    print("member started", flush=True)
    train_sequential(job, cfg)


def model_only(batch_size: int, size: int) -> None:
    """The baseline: the same model and optimiser stepping on one synthetic batch, no data at all."""
    import torch

    from memgen.ensemble.models import build_model

    torch.set_num_threads(1)
    model = build_model("cnn", (3, size, size), 1000, {"width": 2})
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    x, y = torch.randn(batch_size, 3, size, size), torch.randint(0, 1000, (batch_size,))
    while True:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def sample(target, args, seconds: float) -> tuple[list[tuple[float, float, int]], bool]:
    """(time, PSS MB, worker count) every 0.5 s of a child process running target(*args), then stop it;
    and whether it ended by itself (exit 0) before `seconds`. A child that fails ends the benchmark."""
    proc = mp.get_context("fork").Process(target=target, args=args)
    t0 = time.time()
    proc.start()
    samples = []
    while proc.is_alive() and time.time() - t0 < seconds:
        samples.append((time.time() - t0, pss_mb(proc.pid), len(descendants(proc.pid))))
        time.sleep(0.5)
    proc.terminate()
    proc.join()
    if proc.exitcode not in (0, -signal.SIGTERM):  # the figures of a crashed job would measure nothing
        sys.exit(f"{target.__name__} failed (exit {proc.exitcode}) after {time.time() - t0:.0f} s")
    return samples, proc.exitcode == 0


def pss_mb(pid: int) -> float:
    """PSS of a process and its descendants, in MB (Linux /proc/<pid>/smaps_rollup)."""
    total = 0.0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) / 1024
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return total


def descendants(pid: int) -> list[int]:
    out = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return out
    for c in map(int, children):
        out += [c, *descendants(c)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--seconds", type=float, default=60, help="how long the member trains before it is stopped"
    )
    ap.add_argument("--workers", type=int, default=2, help="decoding processes (this machine: 2 cores)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n", type=int, default=N_IMAGENET, help=argparse.SUPPRESS)  # training points
    ap.add_argument("--size", type=int, default=224, help=argparse.SUPPRESS)  # the model's input side
    ap.add_argument("--jpegs", type=int, default=64, help=argparse.SUPPRESS)  # distinct files
    ap.add_argument("--baseline-seconds", type=float, default=30, help=argparse.SUPPRESS)
    ap.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes {SMOKE}: it runs, the figures mean nothing"
    )
    args = ap.parse_args()
    if args.smoke:  # explicit options still win over the smoke sizes
        ap.set_defaults(**SMOKE)
        args = ap.parse_args()
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="stream_memory_smoke.") as tmp:
            measure(args, Path(tmp))
    else:
        measure(args, REPO / "benchmarks" / "out" / "stream_memory_jpegs")


def measure(args, folder: Path) -> None:
    n, size = args.n, args.size
    names = make_jpegs(folder, args.jpegs)
    samples, finished = sample(
        member, (str(folder), names, args.workers, args.batch_size, n, size), args.seconds
    )
    if args.smoke and not finished:
        sys.exit(f"the smoke member did not finish its epoch of {n} points in {args.seconds:g} s")
    base, _ = sample(model_only, (args.batch_size, size), min(args.seconds, args.baseline_seconds))
    baseline = max(p for _, p, _ in base)
    t, pss, kids = zip(*samples, strict=True)
    per_point = {
        "file list (UTF-8 paths)": n * 18,  # "img000.jpg"-like here; ImageNet's ~40 B: 51 MB
        "labels + indices (int64)": n * 8 * 1.95,
        "epoch plan (order, shifts, flips)": n * 0.95 * (8 + 16 + 1),
        "compact outputs (10 B/point)": n * 10,
    }
    print(f"streaming member at N = {n:,}: {args.workers} workers, batch {args.batch_size}, {size} px, "
          f"random-resized crops; {len(samples)} samples over {t[-1]:.0f} s")  # fmt: skip
    print(f"peak PSS of job + workers: {max(pss):,.0f} MB (median {np.median(pss):,.0f} MB; "
          f"processes: 1 + up to {max(kids)} workers)")  # fmt: skip
    print(f"the same model stepping on one synthetic batch (no data): peak PSS {baseline:,.0f} MB, so the "
          f"streamed data and all per-point state add {max(pss) - baseline:,.0f} MB")  # fmt: skip
    quartiles = ", ".join(f"{pss[int(q * (len(pss) - 1))]:,.0f}" for q in (0.25, 0.5, 0.75, 1))
    print(f"PSS at 25/50/75/100 % of the run: {quartiles} MB")
    print("per-point state by construction:")
    for k, v in per_point.items():
        print(f"  {k:36s} {v / 1e6:8.1f} MB")
    in_flight = args.workers * 2 * args.batch_size * 3 * size * size
    print(
        f"batches in flight by construction: {args.workers} workers x 2 prefetched x {args.batch_size} x 3 x "
        f"{size} x {size} B = {in_flight / 1e6:.0f} MB"
    )
    if args.smoke:
        print("smoke run: tiny sizes, the member trained its whole epoch; the figures mean nothing")


if __name__ == "__main__":
    main()
