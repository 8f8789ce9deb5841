"""The scores stage at ImageNet scale: K member outputs of N points read, scored and recorded.

    .venv/bin/python benchmarks/scores_scale.py [--members 512] [--n 1280000] [--classes 1000] [--keep]

Builds, under benchmarks/out/scores_scale/ (git-ignored), what the workflow would have before its scores
job: canaries, the balanced mask (blocks of 64), and every member's compact outputs drawn directly from a
seeded rng (most points right, canaries mostly right only when trained on), each with the provenance
record its members job writes (so the hash cache is filled as in a real run). Then it runs the real
workflow script, workflow_scripts/scores.py, through memgen.workflow.run in a fresh process, and prints
its wall time, peak memory (the process's ru_maxrss) and the bytes per member on disk, against the goals
(<= 2 min, <= 4 GiB, <= 16 MB per member). The files (about 13 MB per member) are deleted unless --keep.
"""

import argparse
import json
import os
import resource
import runpy
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "scores_scale"
ENS = Path("results/bench/arch/rate0.5")
GOALS = {"seconds": 120, "peak_gib": 4.0, "mb_per_member": 16.0}
N_TEST = 50_000  # ImageNet's validation set


def member_path(k: int, block_size: int) -> Path:
    return ENS / "members" / str(k // block_size) / str(k % block_size) / "outputs.npz"


def build(args) -> None:
    """Everything the scores job reads, in the workflow's layout, with its upstream provenance records."""
    from memgen.data.canaries import make_canaries
    from memgen.ensemble.masks import block, check_mask_spec
    from memgen.ensemble.outputs import save_outputs
    from memgen.io import save_npz
    from memgen.provenance import write_records

    check_mask_spec(args.rate, args.members, args.block_size)
    rng = np.random.default_rng(0)
    c = make_canaries(rng.integers(0, args.classes, args.n), args.classes, 0.05, 0)
    canaries = Path("results/bench/data/canaries.npz")
    save_npz(canaries, **c)
    write_records("canaries", [], [canaries], {}, {}, {"canaries": 0}, "cpu", time.time(), time.time())
    mask = np.concatenate(
        [block(0, b, args.block_size, args.n, args.rate) for b in range(args.members // args.block_size)]
    )
    masks = ENS / "masks.npz"
    save_npz(masks, mask=mask, rate=args.rate, block_size=args.block_size, seed=0)
    write_records("masks", [], [masks], {}, {}, {"masks": 0}, "cpu", time.time(), time.time())
    label, canary = c["label"], c["canary"]
    test_label = rng.integers(0, args.classes, N_TEST)
    for k in range(args.members):
        # P(right): natural points 0.98 trained on, 0.75 held out; canaries 0.7 trained on, 0.02 held out
        p = np.where(canary, np.where(mask[k], 0.7, 0.02), np.where(mask[k], 0.98, 0.75))
        sets = {
            "train": draw(rng, label, p, args.classes),
            "test_original": draw(rng, test_label, 0.75, args.classes),
        }
        path = member_path(k, args.block_size)
        save_outputs(path, sets, seed_id=np.int64(k), member=np.int64(k))
        write_records(
            "members", [canaries, masks], [path], {}, {}, {str(k): k}, "cpu", time.time(), time.time()
        )
        if k % 64 == 63:
            print(f"  {k + 1} of {args.members} members written", flush=True)


def draw(rng, label: np.ndarray, p_right, classes: int) -> dict[str, np.ndarray]:
    """pred, margin and log_odds as compact() would give them for a model right with probability p_right."""
    n = len(label)
    right = rng.random(n) < p_right
    pred = np.where(right, label, (label + rng.integers(1, classes, n)) % classes)
    margin = np.where(right, rng.gamma(2.0, 2.0, n), -rng.gamma(2.0, 1.0, n))
    # log_odds = margin - log(sum over the other classes of exp(z_j - top)), that sum being in [1, C-1]
    log_odds = margin - rng.uniform(0, np.log(classes - 1), n)
    return {
        "pred": pred.astype(np.uint16),
        "margin": margin.astype(np.float32),
        "log_odds": log_odds.astype(np.float32),
    }


class _Named(list):
    """The slice of Snakemake's Namedlist that workflow scripts and memgen.workflow.run use."""

    def __init__(self, items=(), **named):
        super().__init__(items)
        self._named = named

    def __getattr__(self, name):
        try:
            return self.__dict__["_named"][name]
        except KeyError:
            raise AttributeError(name) from None

    def items(self):
        return self._named.items()


class _Job:
    def __init__(self, members: list[str]):
        canaries, masks = "results/bench/data/canaries.npz", str(ENS / "masks.npz")
        # the rule's member input is `outputs` (older scripts called it `logits`): both name the same files
        self.input = _Named(
            [canaries, masks, *members], canaries=canaries, masks=masks, outputs=members, logits=members
        )
        scores, correct = str(ENS / "scores.csv"), str(ENS / "correct.npz")
        self.output = _Named([scores, correct], scores=scores, correct=correct)
        self.params, self.wildcards = _Named(), _Named(dataset="bench", arch="arch", ens="rate0.5")
        self.log = _Named(["logs/bench/scores.log"])
        self.rule, self.threads = "scores", 1


def stage(args) -> None:
    """The scores job as Snakemake runs it: workflow_scripts/scores.py with its `snakemake` object."""
    members = [str(member_path(k, args.block_size)) for k in range(args.members)]
    runpy.run_path(str(REPO / "workflow_scripts" / "scores.py"), init_globals={"snakemake": _Job(members)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=512)
    ap.add_argument("--n", type=int, default=1_280_000, help="training points")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--keep", action="store_true", help="keep the files under benchmarks/out/scores_scale")
    ap.add_argument("--stage", action="store_true", help=argparse.SUPPRESS)  # the child: run the job only
    args = ap.parse_args()
    if args.stage:
        stage(args)
        return

    need = args.members * (args.n + N_TEST) * 10 + args.members * args.n * 4 + (64 << 20)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(OUT.parent).free
    if need > 0.9 * free:
        sys.exit(
            f"needs about {need / 2**30:.1f} GiB on disk, {free / 2**30:.1f} GiB free: use fewer --members"
        )
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    os.chdir(OUT)  # the workflow's working directory: results/ here, and its hash cache with it
    try:
        t = time.perf_counter()
        print(
            f"building {args.members} members x {args.n} points, {args.classes} classes in {OUT} ...",
            flush=True,
        )
        build(args)
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)

        cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", *sys.argv[1:]]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        if proc.returncode:
            sys.exit(
                f"scores stage failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 2**30  # Linux: KiB
        sizes = [os.path.getsize(member_path(k, args.block_size)) for k in range(args.members)]
        record = json.loads((ENS / "scores.csv.prov.json").read_text())
        result = {
            "members": args.members,
            "n": args.n,
            "classes": args.classes,
            "scores_stage_seconds": round(seconds, 1),
            "peak_rss_gib": round(peak_gib, 2),
            "mb_per_member": round(np.mean(sizes) / 1e6, 2),
            "bytes_per_point": round(np.mean(sizes) / (args.n + N_TEST), 2),
            "correct_npz_mb": round(os.path.getsize(ENS / "correct.npz") / 1e6, 1),
            "scores_csv_mb": round(os.path.getsize(ENS / "scores.csv") / 1e6, 1),
            "record_inputs": len(record["inputs"]),
        }
        print(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "")
        print(json.dumps(result, indent=1))
        met = {
            "time": seconds <= GOALS["seconds"],
            "memory": peak_gib <= GOALS["peak_gib"],
            "disk": result["mb_per_member"] <= GOALS["mb_per_member"],
        }
        goals = (
            f"<= {GOALS['seconds']} s, <= {GOALS['peak_gib']} GiB, <= {GOALS['mb_per_member']} MB per member"
        )
        print(f"goals ({goals}): " + ", ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in met.items()))
    finally:
        os.chdir(REPO)
        if not args.keep:
            shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
