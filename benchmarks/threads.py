"""How many threads should a training job take on a 2-core machine? Two shards, as `--cores 2` runs them.

    .venv/bin/python benchmarks/threads.py            # two 32-member digits shards, idle and loaded
    .venv/bin/python benchmarks/threads.py --smoke    # 4-member shards, 2 epochs: it runs

"1 thread": the two shards run at once, one thread each (Snakemake with `threads: 1`); "2 threads": one
after the other, two threads each (`threads: 2`). "loaded": a busy-looping process per core runs beside
them (another user's job, a test suite). Prints the wall time of each, and the choice it supports.
"""

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from numerics import CHILD, REPO  # noqa: E402  (the same shard, trained in a fresh process)


def _shard(members: int, epochs: int, threads: int) -> subprocess.Popen:
    args = [str(members), str(epochs), str(threads), str(REPO / "config.yaml")]
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], stdout=subprocess.DEVNULL)


def _burn(stop) -> None:
    os.nice(0)
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def two_shards(members: int, epochs: int, threads: int) -> float:
    t0 = time.perf_counter()
    if threads == 1:
        procs = [_shard(members, epochs, 1) for _ in range(2)]
        codes = [p.wait() for p in procs]
    else:
        codes = [_shard(members, epochs, 2).wait() for _ in range(2)]
    if any(codes):
        sys.exit(f"a shard failed: exit codes {codes}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=0, help="default: the config's")
    ap.add_argument("--smoke", action="store_true", help="4-member shards, 2 epochs: it runs")
    args = ap.parse_args()
    if args.smoke:
        args.members, args.epochs = 4, 2
    walls = {}
    for load in ("idle", "loaded"):
        stop = mp.Event()
        burners = [mp.Process(target=_burn, args=(stop,)) for _ in range(2 if load == "loaded" else 0)]
        for b in burners:
            b.start()
        try:
            for threads in (1, 2):
                walls[load, threads] = two_shards(args.members, args.epochs, threads)
                print(
                    f"{load:6s} two shards of {args.members}, {threads} thread(s) each: "
                    f"{walls[load, threads]:7.1f} s wall"
                )
        finally:
            stop.set()
            for b in burners:
                b.join()
    best = {load: min((1, 2), key=lambda t, load=load: walls[load, t]) for load in ("idle", "loaded")}
    print(
        f"fastest: idle {best['idle']} thread(s), loaded {best['loaded']} thread(s); "
        f"2 / 1 threads: idle {walls['idle', 2] / walls['idle', 1]:.2f}x, "
        f"loaded {walls['loaded', 2] / walls['loaded', 1]:.2f}x"
    )


if __name__ == "__main__":
    main()
