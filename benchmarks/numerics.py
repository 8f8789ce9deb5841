"""Do two machines train the same members? One digits shard under each CPU code path, its weights hashed.

    .venv/bin/python benchmarks/numerics.py            # 32 members, the default recipe, 1 and 2 threads
    .venv/bin/python benchmarks/numerics.py --smoke    # 4 members, 2 epochs: it runs

Each run is a fresh process (the variables act only before torch loads). "native" is this machine's
fastest path (MEMGEN_NUMERICS=native); "native, AVX2 machine" forces the AVX2 kernels a machine without
AVX512 would dispatch to; "portable" is memgen's default pin (memgen/numerics.py). Prints a line per run
(seconds, weights' sha256) and whether the paths agree bit for bit, and portable's cost against native.
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PINNED_VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")  # memgen.numerics.PINNED
RUNS = {
    "native": {"MEMGEN_NUMERICS": "native"},
    "native, AVX2 machine": {"MEMGEN_NUMERICS": "native", "ATEN_CPU_CAPABILITY": "avx2"},
    "portable (memgen's pin)": {"MEMGEN_NUMERICS": "portable"},
}
CHILD = """
import memgen  # first: its pin acts only before torch loads
import hashlib, sys, time
import numpy as np, torch, yaml
from memgen.config import training, validate
from memgen.data.loaders import load_digits
from memgen.ensemble.masks import balanced_mask
from memgen.ensemble.batched import train_batched
from memgen.ensemble.common import Job
from memgen.recipe import TrainConfig

members, epochs, threads = (int(a) for a in sys.argv[1:4])
torch.set_num_threads(threads)
config = validate(yaml.safe_load(open(sys.argv[4]).read()))
recipe = training(config, "digits", "mlp") | ({"epochs": epochs} if epochs else {})
ds = load_digits()
mask = balanced_mask(0, members, members, len(ds.y_train), 0.5)
job = Job(ds.x_train, ds.y_train, [np.flatnonzero(m) for m in mask], list(range(members)), "mlp", 10,
          ds.mean, ds.std)
t0 = time.perf_counter()
results = train_batched(job, TrainConfig.from_dict(recipe))
seconds = time.perf_counter() - t0
h = hashlib.sha256()
for r in results:
    for _, v in sorted(r["state_dict"].items()):
        h.update(v.detach().numpy().tobytes())
print(torch.backends.cpu.get_cpu_capability(), f"{seconds:.3f}", h.hexdigest())
"""


def shard(env: dict, members: int, epochs: int, threads: int) -> tuple[str, float, str]:
    full = {k: v for k, v in os.environ.items() if k not in PINNED_VARIABLES} | env
    args = [str(members), str(epochs), str(threads), str(REPO / "config.yaml")]
    proc = subprocess.run([sys.executable, "-c", CHILD, *args], env=full, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"the shard run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    capability, seconds, digest = proc.stdout.split()[-3:]
    return capability, float(seconds), digest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=0, help="default: the config's")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--smoke", action="store_true", help="4 members, 2 epochs, 1 thread: it runs")
    args = ap.parse_args()
    if args.smoke:
        args.members, args.epochs, args.threads = 4, 2, [1]
    seen: dict[str, set] = {}
    seconds: dict[tuple, float] = {}
    for name, env in RUNS.items():
        for threads in args.threads:
            cap, sec, digest = shard(env, args.members, args.epochs, threads)
            seen.setdefault(name, set()).add(digest)
            seconds[name, threads] = sec
            print(f"{name:26s} {cap:7s} {threads} thread(s): {sec:7.2f} s  weights {digest[:16]}")
    same_threads = all(len(d) == 1 for d in seen.values())
    print(f"1 and 2 threads give the same bits on each path: {'yes' if same_threads else 'NO'}")
    native, avx2 = seen["native"], seen["native, AVX2 machine"]
    print(f"native here vs native on an AVX2 machine: same bits: {'yes' if native == avx2 else 'no'}")
    portable_cost = [seconds["portable (memgen's pin)", t] / seconds["native", t] for t in args.threads]
    print(
        "portable / native time: "
        + ", ".join(f"{c:.2f}x ({t} thr.)" for c, t in zip(portable_cost, args.threads, strict=True))
    )


if __name__ == "__main__":
    main()
