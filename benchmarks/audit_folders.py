"""Wall time of `memgen audit` (the lean default) on two realistic folders, as a new user runs it.

    .venv/bin/python benchmarks/audit_folders.py digits     # 1,797 digits as 20-px JPEGs, only train/
    .venv/bin/python benchmarks/audit_folders.py fashion    # 10,000 Fashion-MNIST images as 28-px PNGs
    .venv/bin/python benchmarks/audit_folders.py --smoke    # 200 digits at 8 px, 64 members, 10 epochs,
                                                            # --no-utility: it runs (seconds, not an audit)
    .venv/bin/python benchmarks/audit_folders.py fashion --proxy   # then `memgen audit --proxy` on it too

With --proxy the proxy audit (`memgen audit DIR --proxy`: a few models, no ensemble) runs on the same folder
right after the lean audit, and the two wall times are printed side by side (goal: the proxy audit <= 1/10).
Where a SLURM client is installed, start its controller first (`bash ci/slurm.sh start`, then `stop`): the
SLURM executor plugin runs `scontrol show config` whenever Snakemake starts, and with no controller that
waits ~9 s, twice per audit, which is this machine's and not the audit's time.

Writes the folder under --work (default ./memgen-audit-bench), runs `memgen audit DIR --cores 2` and
prints the audit's plan line, its stage lines' last one, the wall time and the memorized count. Goals on
2 cores: digits <= 5 min, fashion <= 30 min.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

GOALS = {"digits": 300, "fashion": 1800}


def digits_jpegs(dest: Path, side: int = 20, images: int = 0) -> Path:
    """scikit-learn's digits upsampled to `side` px grey JPEGs in train/<digit>/ (no test/: split)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = (
        np.arange(len(d.target))
        if not images
        else np.random.default_rng(0).permutation(len(d.target))[:images]
    )
    for i in keep:
        img = Image.fromarray(np.round(d.images[i] * (255 / 16)).astype(np.uint8)).resize((side, side))
        path = (
            dest / "train" / f"digit {d.target[i]}" / f"{i:04d}.jpg"
        )  # class names with spaces, as users have
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, quality=90)
    return dest


def fashion_pngs(dest: Path, train: int = 10_000, test: int = 2_000) -> Path:
    """A stratified draw of Fashion-MNIST's real images as 28-px grey PNGs in train/ and test/<class>/."""
    from PIL import Image

    from memgen.data.loaders import load_dataset

    ds = load_dataset("fashion_mnist", {"subset": train, "split_seed": 0}, "data")
    x_test, y_test = next(iter(ds.tests.values()))
    pick = np.random.default_rng(0).permutation(len(y_test))[:test]
    for split, xs, ys in (("train", ds.x_train, ds.y_train), ("test", x_test[pick], y_test[pick])):
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            path = dest / split / ds.classes[y].replace("/", "-") / f"{split}_{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[0]).save(path)
    return dest


def audit(folder: Path, out: Path, extra: list[str]) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "memgen", "audit", str(folder), "--cores", "2", "--out", str(out), *extra]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    if proc.returncode:
        sys.exit(f"audit failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", nargs="?", choices=["digits", "fashion"], default="digits")
    ap.add_argument(
        "--work", type=Path, default=Path("memgen-audit-bench"), help="where folders and audits go"
    )
    ap.add_argument(
        "--smoke", action="store_true", help="200 digits at 8 px, 64 members, 10 epochs, no Table 3: it runs"
    )
    ap.add_argument("--proxy", action="store_true", help="also run the proxy audit and compare the times")
    args = ap.parse_args()
    work = args.work / ("smoke" if args.smoke else args.folder)
    folder = work / "images"
    if not folder.exists():
        if args.folder == "fashion" and not args.smoke:
            fashion_pngs(folder)
        else:
            digits_jpegs(folder, images=200 if args.smoke else 0)
    # the smoke size bounds the work (64 members, 10 epochs), so a slow or loaded machine needs no timeout
    extra = ["--no-utility", "--image-size", "8", "--members", "64", "--epochs", "10"] if args.smoke else []
    wall, out = audit(folder, work / "audit", extra)
    plan = next(
        (line for line in out.splitlines() if line.startswith("memgen audit plan:")), "(no plan line)"
    )
    stages = [line for line in out.splitlines() if line.startswith("memgen audit: stage")]
    name = folder.name
    memorized = work / "audit" / "results" / name / "mlp" / "memorized.csv"
    n = max(0, len(memorized.read_text().splitlines()) - 1) if memorized.exists() else 0
    print(plan)
    print(stages[-1] if stages else "(no stage line)")
    print(
        f"audit of {args.folder}{' (smoke)' if args.smoke else ''}: {wall:.0f} s wall, {n} memorized images"
    )
    if not args.smoke:
        goal = GOALS[args.folder]
        print(f"goal <= {goal} s: {'met' if wall <= goal else 'MISSED'}")
    if args.proxy:
        proxy_wall, out = audit(folder, work / "audit-proxy", ["--proxy"])
        flagged = work / "audit-proxy" / "results" / name / "mlp" / "memorized_proxy.csv"
        n = max(0, len(flagged.read_text().splitlines()) - 1) if flagged.exists() else 0
        print(out.strip().splitlines()[-1])
        print(
            f"proxy audit of {args.folder}: {proxy_wall:.0f} s wall, {n} flagged images; "
            f"{proxy_wall / wall:.3f} of the lean audit's {wall:.0f} s (goal <= 0.1: "
            f"{'met' if proxy_wall <= wall / 10 else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
