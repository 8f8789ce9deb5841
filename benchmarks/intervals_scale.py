"""Per-point intervals at ImageNet scale: scores.csv's eight interval columns for N points from K members.

    .venv/bin/python benchmarks/intervals_scale.py [--n 1281167] [--members 512] [--rate 0.7]
    .venv/bin/python benchmarks/intervals_scale.py --smoke     # 20,000 points, 64 members: seconds

Draws each point's hit counts (n_in = round(K r) members in, the rest out) from a seeded rng and times
memgen.scores.intervals.interval_columns, what memgen.scores.compute.score_table adds to the scores stage,
printing wall seconds and the peak memory numpy allocates for it (tracemalloc), against the goals (<= 5 s,
<= 0.5 GiB: a small share of the scores stage's 2 min and 4 GiB, benchmarks/scores_scale.py). Then the
planner on the same points (it samples 20,000 of them): `memgen plan`'s search for a median frac width of
0.2.
"""

import argparse
import time
import tracemalloc

import numpy as np

from memgen.plan.study import plan
from memgen.scores.intervals import interval_columns

GOALS = {"seconds": 5.0, "peak_gib": 0.5}
SMOKE = {"n": 20_000, "members": 64}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_281_167, help="training points (ImageNet: 1,281,167)")
    ap.add_argument("--members", type=int, default=512, help="K (paper ImageNet: 512 at rate 0.7)")
    ap.add_argument("--rate", type=float, default=0.7)
    ap.add_argument(
        "--smoke", action="store_true", help=f"tiny sizes {SMOKE}: it runs, the figures mean nothing"
    )
    args = ap.parse_args()
    if args.smoke:  # explicit options still win over the smoke sizes
        ap.set_defaults(**SMOKE)
        args = ap.parse_args()
    rng = np.random.default_rng(0)
    n_in = np.full(args.n, round(args.members * args.rate))
    n_out = args.members - n_in
    p_in, p_out = rng.beta(20, 1, args.n), rng.beta(3, 1, args.n)
    counts = {
        "n_in": n_in,
        "n_out": n_out,
        "acc_in": rng.binomial(n_in, p_in) / n_in,
        "acc_out": rng.binomial(n_out, p_out) / n_out,
    }
    tracemalloc.start()
    t0 = time.perf_counter()
    cols = interval_columns(counts, 0.95)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**30
    tracemalloc.stop()
    assert all(len(c) == args.n for c in cols.values())
    where = f"N = {args.n:,}, K = {args.members}, rate {args.rate}"
    goals = f"goals <= {GOALS['seconds']:g} s, <= {GOALS['peak_gib']:g} GiB"
    print(f"intervals: {where}: {seconds:.2f} s, peak {peak:.3f} GiB ({goals})")
    t0 = time.perf_counter()
    res = plan(args.n, args.rate, width=0.2, p_in=counts["acc_in"], p_out=counts["acc_out"])
    took = time.perf_counter() - t0
    print(f"planner: K = {res['answer']['members']} for a median frac width <= 0.2, {took:.2f} s")
    ok = seconds <= GOALS["seconds"] and peak <= GOALS["peak_gib"]
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
