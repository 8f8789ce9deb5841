"""What recording the memorization proxies costs on top of training the proxy models.

    .venv/bin/python benchmarks/proxy_overhead.py [--config configs/fashion-cpu.yaml] [--train 10000]
    .venv/bin/python benchmarks/proxy_overhead.py --smoke     # random data, 1 epoch: seconds

Trains the proxy job as the proxy_log rule does (proxies.models models on every training point, the
reference ensemble's recipe: memgen.ensemble.train.train) twice, alternating --repeats times: plainly, and
filling a PointLog (each point's correctness and loss in every training pass); then times the final
measures (loss, margin, input-loss curvature with proxies.curvature_samples vectors) on every point.
Prints each time and the overhead: (log + final measures) over plain training. Also times curvature on the
generic path every model other than memgen's MLP takes (memgen/proxies/record.py): its cost per vector in
training epochs is memgen/plan/proxy.py's constant.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

import memgen.config as mc
from memgen.data.stream import iter_chunks
from memgen.ensemble.common import Job, channel_stats, prepare
from memgen.ensemble.models import build_model
from memgen.ensemble.point_log import PointLog
from memgen.ensemble.train import train
from memgen.proxies.record import curvature, final_measures
from memgen.recipe import TrainConfig

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_loop import images  # noqa: E402 (the same data as the bare-loop benchmark)


def timed(fn, *args, **kw) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t, out


def generic_curvature(job: Job, cfg: TrainConfig, state_dict: dict, samples: int, h: float) -> float:
    """Seconds of curvature alone on every point, the model wrapped so that it takes the generic path."""
    model = build_model(job.arch, job.x.shape[1:], job.num_classes, cfg.model)
    model.load_state_dict(state_dict)
    model = torch.nn.Sequential(model.eval()).requires_grad_(False)
    stats = channel_stats(job.mean, torch.device("cpu")), channel_stats(job.std, torch.device("cpu"))
    y, gen, start = torch.as_tensor(job.y), torch.Generator().manual_seed(0), time.perf_counter()
    for i, raw in enumerate(iter_chunks(job.x, 256)):
        curvature(model, prepare(raw, *stats), y[256 * i : 256 * (i + 1)], samples, h, gen)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="configs/fashion-cpu.yaml", help="whose recipe and proxies keys")
    ap.add_argument("--train", type=int, default=10000, help="training images (every model sees all)")
    ap.add_argument("--epochs", type=int, default=None, help="default: the reference ensemble's")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the rule runs 1)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each, alternating; the best counts")
    ap.add_argument("--data", default="auto", choices=["auto", "fashion", "random"])
    ap.add_argument("--smoke", action="store_true", help="random data, 512 images, 1 epoch")
    args = ap.parse_args()
    if args.smoke:
        args.data, args.train, args.epochs, args.repeats = "random", 512, 1, 1
    torch.set_num_threads(args.threads)
    config = mc.validate(yaml.safe_load((REPO / args.config).read_text()))
    name = next(iter(config["datasets"]))
    arch = next(iter(config["datasets"][name]["archs"]))
    recipe = mc.training(config, name, arch, mc.reference(config))
    recipe["epochs"] = args.epochs or recipe["epochs"]
    cfg, spec = TrainConfig.from_dict(recipe), config["proxies"]
    x, y, what = images(args.data, args.train)
    x01 = x / 255
    M, n = spec["models"], len(y)
    job = Job(x, y, [np.arange(n)] * M, list(range(M)), arch, 10, x01.mean((0, 2, 3)), x01.std((0, 2, 3)))
    plain, logged = [], []
    for _ in range(args.repeats):
        plain.append(timed(train, job, cfg, "cpu")[0])
        dt, results = timed(train, job, cfg, "cpu", record=PointLog(M, cfg.epochs, n))
        logged.append(dt)
    c = (spec["curvature_samples"], spec["curvature_step"])
    final = sum(
        timed(final_measures, job, cfg, r["state_dict"], "cpu", *c, seed=k)[0] for k, r in enumerate(results)
    )
    base = min(plain)
    print(
        f"{what}: {arch} ({args.config}), {M} proxy models x {cfg.epochs} epochs on {n:,} points, "
        f"{args.threads} thread(s), best of {args.repeats}"
    )
    print(f"  training, plain:               {base:8.1f} s")
    print(f"  training, logging every point: {min(logged):8.1f} s  ({min(logged) / base - 1:+.1%})")
    print(f"  final loss, margin, curvature: {final:8.1f} s  (+{final / base:.1%}; {c[0]} vectors, h {c[1]})")
    print(f"  recording overhead in all:     {(min(logged) + final) / base - 1:+.1%} on top of training")
    generic = sum(generic_curvature(job, cfg, r["state_dict"], *c) for r in results)
    per_vector = (generic / (M * c[0])) / (base / (M * cfg.epochs))
    print(f"  curvature, generic path:       {generic:8.1f} s  (+{generic / base:.1%}; any other model)")
    print(f"  one generic curvature vector costs {per_vector:.2f} training epochs (memgen/plan/proxy.py)")


if __name__ == "__main__":
    main()
