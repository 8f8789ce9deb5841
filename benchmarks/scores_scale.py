"""The scores stage at ImageNet scale: K member outputs of N points read, scored and recorded.

    .venv/bin/python benchmarks/scores_scale.py [--members 512] [--n 1280000] [--classes 1000] [--keep]
    .venv/bin/python benchmarks/scores_scale.py --smoke   # 16 members x 2,000 points: seconds; no figures

Builds, under benchmarks/out/scores_scale/ (git-ignored; --smoke: a temporary folder), what the workflow
would have before its scores job: the dataset index, canaries, the balanced mask (blocks of 64), and every
member's compact outputs drawn directly from a seeded rng (most points right, canaries mostly right only when
trained on), each with the provenance record its members job writes (so the hash cache is filled as in a
real run). Then, in a fresh process, it runs the scores job's work as its workflow script does: the stage
function memgen.scores.jobs.write_scores, then the job's provenance records (memgen.provenance.write_records,
what memgen.workflow.run writes after it). It prints the wall time, peak memory (the process's ru_maxrss)
and the bytes per member on disk, against the goals (<= 2 min, <= 4 GiB, <= 16 MB per member). The files
(about 13 MB per member) are deleted unless --keep.
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out" / "scores_scale"
ENS = Path("results/bench/arch/rate0.5")
DATA = Path("results/bench/data")
GOALS = {"seconds": 120, "peak_gib": 4.0, "mb_per_member": 16.0}
SMOKE = {"members": 16, "block_size": 16, "n": 2000, "classes": 10, "n_test": 500}


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
    labels = rng.integers(0, args.classes, args.n)
    # the index of a dataset without files (memgen.data.index): the scores job reads it for `path`
    index = DATA / "index.npz"
    classes = np.array([str(c) for c in range(args.classes)])
    save_npz(index, n=args.n, labels=labels, num_classes=args.classes, classes=classes)
    write_records("dataset_index", [], [index], {}, {}, {}, "cpu", time.time(), time.time())
    c = make_canaries(labels, args.classes, 0.05, 0)
    canaries = DATA / "canaries.npz"
    save_npz(canaries, **c)
    write_records("canaries", [index], [canaries], {}, {}, {"canaries": 0}, "cpu", time.time(), time.time())
    mask = np.concatenate(
        [block(0, b, args.block_size, args.n, args.rate) for b in range(args.members // args.block_size)]
    )
    masks = ENS / "masks.npz"
    save_npz(masks, mask=mask, rate=args.rate, block_size=args.block_size, seed=0)
    write_records("masks", [], [masks], {}, {}, {"masks": 0}, "cpu", time.time(), time.time())
    label, canary = c["label"], c["canary"]
    test_label = rng.integers(0, args.classes, args.n_test)
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


def stage(args) -> None:
    """The scores job's work, as workflow_scripts/scores.py does it: the stage function on the rule's inputs,
    then the job's provenance records. Called by keyword: a changed signature fails here, not silently."""
    from memgen.provenance import write_records
    from memgen.scores.jobs import write_scores
    from memgen.workflow import setup_logging

    setup_logging(None)  # the stage's log lines to stderr, as in the job's log
    members = [str(member_path(k, args.block_size)) for k in range(args.members)]
    inputs = {
        "canaries": str(DATA / "canaries.npz"),
        "masks": str(ENS / "masks.npz"),
        "index": str(DATA / "index.npz"),
    }
    outputs = {"scores": str(ENS / "scores.csv"), "correct": str(ENS / "correct.npz")}
    started = time.time()
    write_scores(
        canaries_path=inputs["canaries"],
        masks_path=inputs["masks"],
        output_paths=members,
        out_scores=outputs["scores"],
        out_correct=outputs["correct"],
        index_path=inputs["index"],
    )
    wildcards = {"dataset": "bench", "arch": "arch", "ens": "rate0.5"}
    write_records(
        "scores",
        [inputs["canaries"], inputs["masks"], *members, inputs["index"]],
        list(outputs.values()),
        {},
        {},
        {},
        "cpu",
        started,
        time.time(),
        wildcards=wildcards,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", type=int, default=512)
    ap.add_argument("--n", type=int, default=1_280_000, help="training points")
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--n-test", type=int, default=50_000, help="test points (ImageNet's validation set)")
    ap.add_argument("--keep", action="store_true", help="keep the files under benchmarks/out/scores_scale")
    ap.add_argument("--smoke", action="store_true", help=f"tiny sizes {SMOKE}, in a temporary folder")
    ap.add_argument("--stage", action="store_true", help=argparse.SUPPRESS)  # the child: run the job only
    ap.add_argument("--out", type=Path, default=OUT, help=argparse.SUPPRESS)  # the child: where to work
    args = ap.parse_args()
    if args.smoke:  # explicit options still win over the smoke sizes
        ap.set_defaults(**SMOKE)
        args = ap.parse_args()
    if args.stage:
        os.chdir(args.out)
        stage(args)
        return
    if args.smoke:
        with tempfile.TemporaryDirectory(prefix="scores_scale_smoke.") as tmp:
            measure(args, Path(tmp) / "scores_scale")
    else:
        measure(args, OUT)


def measure(args, out: Path) -> None:
    """Build the inputs in `out`, run the stage in a child process, print its figures."""
    need = args.members * (args.n + args.n_test) * 10 + args.members * args.n * 4 + (64 << 20)
    out.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(out.parent).free
    if need > 0.9 * free:
        sys.exit(
            f"needs about {need / 2**30:.1f} GiB on disk, {free / 2**30:.1f} GiB free: use fewer --members"
        )
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.chdir(out)  # the workflow's working directory: results/ here, and its hash cache with it
    try:
        t = time.perf_counter()
        print(
            f"building {args.members} members x {args.n} points, {args.classes} classes in {out} ...",
            flush=True,
        )
        build(args)
        print(f"  built in {time.perf_counter() - t:.0f} s", flush=True)

        cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", "--out", str(out), *sys.argv[1:]]
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
            "bytes_per_point": round(np.mean(sizes) / (args.n + args.n_test), 2),
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
        if args.smoke:
            print("smoke run: tiny sizes, the figures say nothing about the goals")
    finally:
        os.chdir(REPO)
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
