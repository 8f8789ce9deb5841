"""Members on one GPU: a bare training loop, memgen one member at a time, memgen with concurrent members.

    python benchmarks/gpu_members.py                                  # one GPU, ~1-2 min
    python benchmarks/gpu_members.py --compile --json out.json        # also (b) with torch.compile
    python benchmarks/gpu_members.py --device cpu --n 512 --epochs 1  # on CPU: it runs; figures mean nothing
    python benchmarks/gpu_members.py --smoke                          # 16 images, 1 epoch; CPU without a GPU

One recipe for all: synthetic CIFAR-shaped data (uint8 n x 3 x 32 x 32, 10 classes), timm
resnet18 with the 32x32 stem (memgen.ensemble.models.build_model), batch 512, SGD with Nesterov momentum,
triangular learning rate, random crop (pad 4) and flip on the device, bf16 autocast, channels_last.
  (a) a bare loop of about 20 lines: the reference;
  (b) memgen.ensemble.train.train with a Job of one member;
  (c) the same with concurrent_members = 2, 4 (each member trains on all n images).
Each mode is timed over one whole call after a one-epoch warm-up call (cuDNN autotuning, the allocator,
compilation). Goals: (b) >= 0.9 x (a); (c) >= 2 x (b) in members per GPU-hour.
"""

import argparse
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from memgen.ensemble.models import build_model
from memgen.ensemble.train import Job, train
from memgen.recipe import TrainConfig

BATCH, LR_PEAK, WARMUP, MOMENTUM, WD, PAD = 512, 0.4, 0.25, 0.9, 5e-4, 4  # the paper's CIFAR recipe
SMOKE = {"n": 16, "epochs": 1}  # one step per mode; resnet18 under bf16 autocast is slow on CPU


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bare_loop(x_u8: torch.Tensor, y: torch.Tensor, epochs: int, dev: torch.device, mean, std) -> None:
    """(a) The recipe with nothing around it: data already on the device, one model, one stream."""
    model = build_model("resnet18", (3, 32, 32), 10).to(dev, memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=MOMENTUM, nesterov=True, weight_decay=WD)
    n, total = len(x_u8), epochs * math.ceil(len(x_u8) / BATCH)
    peak = max(1, round(WARMUP * total))
    lrs = [
        LR_PEAK * min((s + 1) / peak, max(0.0, (total - s - 1) / max(1, total - peak))) for s in range(total)
    ]
    ar, step = torch.arange(32, device=dev), 0
    for _ in range(epochs):
        for sel in torch.randperm(n, device=dev).split(BATCH):
            b = len(sel)
            x = F.pad((x_u8[sel].float() / 255 - mean) / std, (PAD,) * 4)
            sh = torch.randint(0, 2 * PAD + 1, (b, 2), device=dev)  # random crop: per-example shift
            rows, cols = (sh[:, 0:1] + ar)[:, None, :, None], (sh[:, 1:2] + ar)[:, None, None, :]
            x = x[
                torch.arange(b, device=dev)[:, None, None, None],
                torch.arange(3, device=dev)[:, None, None],
                rows,
                cols,
            ]
            x = torch.where(torch.rand(b, 1, 1, 1, device=dev) < 0.5, x.flip(-1), x)
            x = x.contiguous(memory_format=torch.channels_last)
            for g in opt.param_groups:
                g["lr"] = lrs[step]
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                loss = F.cross_entropy(model(x).float(), y[sel])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    sync(dev)


def memgen_members(job_data: dict, epochs: int, dev: torch.device, members: int, compile_: bool) -> None:
    """(b) and (c): memgen's member training, `members` members of the whole data set, all at once."""
    n = len(job_data["x"])
    job = Job(indices=[np.arange(n)] * members, seeds=list(range(members)), arch="resnet18", **job_data)
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=BATCH,
        lr_peak=LR_PEAK,
        lr_warmup=WARMUP,
        momentum=MOMENTUM,
        nesterov=True,
        weight_decay=WD,
        crop_padding=PAD,
        flip=True,
        checkpoint_every=0,
        batched=False,
        bf16=True,
        channels_last=True,
        compile=compile_,
        concurrent_members=members,
    )
    train(job, cfg, str(dev), flags_on_cpu=dev.type == "cpu")  # on CPU: the same branches as on the GPU
    sync(dev)


def timed(fn, epochs: int, warmup: bool, dev: torch.device) -> tuple[float, float]:
    """Seconds of one call of fn(epochs) after a one-epoch warm-up call; peak device memory in GiB."""
    if warmup:
        fn(1)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    sync(dev)
    t = time.perf_counter()
    fn(epochs)
    seconds = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else float("nan")
    return seconds, peak


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", help="default cuda; with --smoke, cpu when no GPU is visible")
    ap.add_argument("--n", type=int, default=50_000, help="training images (CIFAR: 50k)")
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per mode")
    ap.add_argument("--concurrent", help="concurrent_members values for (c): default 2,4 (CPU: 2, same code)")
    ap.add_argument("--modes", default="a,b,c", help="which of (a), (b), (c) to time")
    ap.add_argument("--compile", action="store_true", help="also time (b) with compile: true")
    ap.add_argument("--no-warmup", action="store_true", help="skip the warm-up calls (default on CPU)")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes {SMOKE}: it runs, the figures mean nothing"
    )
    args = ap.parse_args()
    if args.smoke:  # explicit options still win over the smoke sizes
        ap.set_defaults(**SMOKE)
        args = ap.parse_args()
    if args.device is None:
        args.device = "cpu" if args.smoke and not torch.cuda.is_available() else "cuda"
        if args.device == "cpu":
            print("no GPU visible: the smoke run trains on CPU (the same code paths, flags on CPU)")
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("no GPU visible: run with --device cpu for the smoke mode", file=sys.stderr)
        return 2
    warmup = dev.type == "cuda" and not args.no_warmup
    torch.backends.cudnn.benchmark = True  # as memgen does on CUDA: (a) gets cuDNN's fastest kernels too
    concurrent = args.concurrent or ("2,4" if dev.type == "cuda" else "2")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(args.n, 3, 32, 32), dtype=np.uint8)
    y = rng.integers(0, 10, size=args.n).astype(np.int64)
    mean, std = (x / 255).mean(axis=(0, 2, 3)), (x / 255).std(axis=(0, 2, 3))
    job_data = dict(x=x, y=y, num_classes=10, mean=mean, std=std)
    x_dev, y_dev = torch.as_tensor(x, device=dev), torch.as_tensor(y, device=dev)
    m_dev = torch.as_tensor(mean, dtype=torch.float32, device=dev)[None, :, None, None]
    s_dev = torch.as_tensor(std, dtype=torch.float32, device=dev)[None, :, None, None]
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(
        f"{name}: resnet18, {args.n} images 3x32x32, batch {BATCH}, bf16, channels_last, {args.epochs} epochs"
    )

    rows = []  # one dict per mode: its figures, or its error

    def run(mode, members, fn):
        try:
            seconds, peak = timed(fn, args.epochs, warmup, dev)
        except Exception as e:  # a failed mode is reported, and fails the run at the end
            print(f"  {mode:<32} FAILED: {type(e).__name__}: {e}", flush=True)
            rows.append({"mode": mode, "members": members, "error": f"{type(e).__name__}: {e}"})
            return
        rate = members * args.n * args.epochs / seconds
        rows.append(
            {"mode": mode, "members": members, "seconds": seconds, "peak_gib": peak, "images_s": rate}
        )
        print(f"  {mode:<32} {rate:>10,.0f} images/s  {seconds:7.1f} s  peak {peak:5.1f} GiB", flush=True)

    modes = args.modes.split(",")
    if "a" in modes:
        run("(a) bare loop", 1, lambda e: bare_loop(x_dev, y_dev, e, dev, m_dev, s_dev))
    if "b" in modes:
        run("(b) memgen, 1 member", 1, lambda e: memgen_members(job_data, e, dev, 1, False))
    if args.compile:
        run("(b) memgen, 1 member, compile", 1, lambda e: memgen_members(job_data, e, dev, 1, True))
    for k in [int(v) for v in concurrent.split(",") if v and "c" in modes]:
        run(f"(c) memgen, {k} concurrent", k, lambda e, k=k: memgen_members(job_data, e, dev, k, False))

    ok = [r for r in rows if "error" not in r]
    ips = {r["mode"]: r["images_s"] for r in ok}
    # a member sees n images per epoch here; at sampling rate r of CIFAR's 50k it sees r x 50k (1/r x as many)
    print(f"members per GPU-hour (100 epochs of {args.n} images each):")
    for mode, v in ips.items():
        print(f"  {mode:<32} {v * 3600 / (100 * args.n):8.1f}")
    ratios, base = {}, ips.get("(b) memgen, 1 member")
    if base and "(a) bare loop" in ips:
        ratios["(b) / (a)"] = (base / ips["(a) bare loop"], 0.9)
    for mode, v in ips.items():
        if base and (mode.startswith("(c)") or "compile" in mode):
            ratios[f"{mode} / (b)"] = (v / base, 2.0 if mode.startswith("(c)") else None)
    for key, (v, goal) in ratios.items():
        verdict = "" if goal is None else f"  goal >= {goal}: "
        if goal is not None:
            verdict += ("met" if v >= goal else "NOT met") if dev.type == "cuda" else "not judged on CPU"
        print(f"{key:<42} {v:5.2f}{verdict}")
    if dev.type != "cuda":
        print("CPU smoke run: every mode ran, but these figures say nothing about the GPU goals.")
    if args.json:
        with open(args.json, "w") as f:
            ratios = {k: v for k, (v, _) in ratios.items()}
            json.dump({"device": name, "n": args.n, "epochs": args.epochs, "rows": rows, "ratios": ratios}, f)
    return 1 if len(ok) < len(rows) else 0


if __name__ == "__main__":
    sys.exit(main())
