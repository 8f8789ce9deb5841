"""The influence step at CIFAR-100 scale, and what it plans at ImageNet scale.

    .venv/bin/python benchmarks/influence_scale.py            # K = 512, N = 50,000, N_test = 10,000
    .venv/bin/python benchmarks/influence_scale.py --smoke    # K = 64, N = 2,000, N_test = 500: seconds

Simulates what the influence job holds after reading its members (memgen.influence.jobs.write_influence):
the balanced mask [K, N] (rate 0.7, blocks of 64, memgen.ensemble.masks.block), each member's correctness and
label log-odds on the test set [K, N_test] (test point j right with its own probability, drawn from a
Beta(4, 1): most points easy, a tail hard), and 100 planted twins: test points right exactly when their twin
training point is in the member's subset. Then, in a fresh process, it runs memgen.influence.compute
.influence_pairs with the default settings (top 3, threshold 0.15) and prints the wall time, peak memory
(the child's ru_maxrss), the pairs kept, how many planted twins are their test point's top pair, and the
goals (<= 5 min, <= 4 GiB on 2 cores). The ImageNet line scales the measured time by N x N_test (the products'
size at the same K) and adds up the arrays the job holds: a plan, not a measurement (no GPU was at hand).
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from anywhere: the repository's memgen
GOALS = {"seconds": 300, "peak_gib": 4.0}
SMOKE = {"members": 64, "n": 2000, "n_test": 500}
TWINS = 100
IMAGENET = {"n": 1_281_167, "n_test": 50_000}


def simulate(k: int, n: int, t: int, seed: int = 0):
    """mask [K, N], correct [K, T], log_odds [K, T] and the planted (train, test) twins."""
    from memgen.ensemble.masks import block

    rng = np.random.default_rng(seed)
    mask = np.concatenate([block(seed, b, 64, n, 0.7) for b in range(k // 64)])
    p = rng.beta(4.0, 1.0, t)
    correct = rng.random((k, t), dtype=np.float32) < p
    twins = np.stack([rng.choice(n, TWINS, replace=False), rng.choice(t, TWINS, replace=False)], 1)
    correct[:, twins[:, 1]] = mask[:, twins[:, 0]]
    log_odds = (rng.standard_normal((k, t), dtype=np.float32) + np.where(correct, 2.0, -2.0)).astype(
        np.float32
    )
    return mask, correct, log_odds, twins


def child(args) -> None:
    """Simulate, then time influence_pairs alone; print one JSON line."""
    from memgen.influence.compute import influence_pairs

    mask, correct, log_odds, twins = simulate(args.members, args.n, args.n_test)
    held = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    pairs = influence_pairs(mask, correct, log_odds, excluded=None, top=3, threshold=0.15)
    seconds = time.perf_counter() - t
    first = pairs[pairs["rank"] == 1].set_index("test")["train"]
    found = int(sum(int(first.get(j, -1)) == i for i, j in twins))
    out = {"seconds": seconds, "pairs": len(pairs), "twins_top": found, "inputs_bytes": held}
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=512, help="K, a multiple of 64")
    ap.add_argument("--n", type=int, default=50_000, help="training points")
    ap.add_argument("--n-test", type=int, default=10_000, help="test points")
    ap.add_argument("--smoke", action="store_true", help=f"tiny sizes {SMOKE}")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke:  # explicit options still win over the smoke sizes
        ap.set_defaults(**SMOKE)
        args = ap.parse_args()
    if args.child:
        child(args)
        return
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *sys.argv[1:]]
    wall = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"influence step failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 2**30
    k, n, t = args.members, args.n, args.n_test
    size = f"K = {k}, N = {n:,}, N_test = {t:,}"
    print(f"influence: {size}: {r['seconds']:.1f} s, peak {peak_gib:.2f} GiB")
    held_gib = r["inputs_bytes"] / 2**30
    print(f"  (simulation included: {time.perf_counter() - wall:.0f} s wall; inputs held {held_gib:.2f} GiB)")
    top = f"planted twins that are their test point's top pair: {r['twins_top']} of {TWINS}"
    print(f"  pairs kept {r['pairs']:,}; {top}")
    met = [
        f"time {'met' if r['seconds'] <= GOALS['seconds'] else 'MISSED'}",
        f"memory {'met' if peak_gib <= GOALS['peak_gib'] else 'MISSED'}",
    ]
    print(f"goals (<= {GOALS['seconds']} s, <= {GOALS['peak_gib']} GiB): {', '.join(met)}")
    scale = IMAGENET["n"] * IMAGENET["n_test"] / (n * t)
    held = (
        k * IMAGENET["n"] + 2 * 4 * k * IMAGENET["n_test"]
    ) / 2**30  # mask bytes, correct + log-odds float32
    print(
        f"ImageNet (planned, K = {k}, N = {IMAGENET['n']:,}, N_test = {IMAGENET['n_test']:,}): "
        f"{scale:.0f}x the products: ~{r['seconds'] * scale / 3600:.1f} h on these cores, "
        f"inputs {held:.1f} GiB + ~0.5 GiB of blocks"
    )


if __name__ == "__main__":
    main()
