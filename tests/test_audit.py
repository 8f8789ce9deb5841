"""`memgen audit DIR` as a new user runs it: scikit-learn's 1,797 digits saved as PNG files in ten class
folders (300 test images), one command, and the flagged images named by file (the audit's acceptance run)."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import guard

MEMGEN = [sys.executable, "-m", "memgen"]


def digits_folder(dest: Path, test_size: int = 300, with_test: bool = True, images: int = 0) -> Path:
    """The digits as 8x8 grayscale PNGs: train/<digit>/digit_<i>.png and test/<digit>/digit_<i>.png; all
    1,797, or (images > 0) a stratified draw of that many."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.round(d.images * (255 / 16)).astype(np.uint8)
    pool = np.arange(len(x))
    if images:
        pool = train_test_split(pool, train_size=images, random_state=0, stratify=d.target)[0]
    train, test = train_test_split(pool, test_size=test_size, random_state=0, stratify=d.target[pool])
    for split, ids in (("train", train), ("test", test if with_test else [])):
        for i in ids:
            path = dest / split / str(d.target[i]) / f"digit_{i:04d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i]).save(path)
    return dest


def test_audit_help_names_the_options():
    out = subprocess.run([*MEMGEN, "audit", "--help"], capture_output=True, text=True, check=True).stdout
    for option in ("--arch", "--image-size", "--out", "--cores", "--profile", "--dry-run", "memorized.csv"):
        assert option in out


def test_audit_of_a_folder_without_train_fails_in_one_line(tmp_path):
    proc = subprocess.run([*MEMGEN, "audit", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "has no train/ folder" in proc.stderr and "Fix:" in proc.stderr


@pytest.mark.workflow  # the dry run starts Snakemake
def test_audit_dry_run_of_a_train_only_folder_plans_the_study(tmp_path):
    folder = digits_folder(tmp_path / "digits_png", with_test=False)
    out = tmp_path / "audit"
    proc = subprocess.run(
        [*MEMGEN, "audit", str(folder), "--image-size", "16", "--out", str(out), "-n"],
        capture_output=True,
        text=True,
        timeout=guard(300),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "members_0" in proc.stdout and "memorized" in proc.stdout
    config = (out / "config.yaml").read_text()
    assert "kind: imagefolder" in config and str(folder) in config


@pytest.mark.workflow
def test_audit_of_digits_pngs_names_the_memorized_files(tmp_path):
    """The acceptance run: one command on 2 cores; memorized.csv lists files a user can open, and only what
    the answer needs runs. Half the digits, 750 + 150 images."""
    folder = digits_folder(tmp_path / "digits_png", test_size=150, images=900)
    out = tmp_path / "audit"
    t0 = time.time()
    proc = subprocess.run(
        # one thread per job (tests/workflow_helpers.py: RUN_OPTIONS), through the audit's Snakemake options
        [*MEMGEN, "audit", str(folder), "--cores", "2", "--out", str(out), "--", "--max-threads", "1"],
        capture_output=True,
        text=True,
        timeout=guard(1500),
    )
    wall = time.time() - t0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    print(f"memgen audit on 750 + 150 digits PNGs (8 px, the default): {wall:.0f} s wall")
    table = pd.read_csv(out / "results" / "digits_png" / "mlp" / "memorized.csv")
    print(table.head(10).to_string())
    assert "path" in table.columns
    assert len(table) > 0, "the default audit recipe should find memorized digits"
    for path in table["path"].head(20):
        assert (folder / path).is_file(), path  # relative to the folder: a file the user can open
    scores = pd.read_csv(out / "results" / "digits_png" / "mlp" / "rate0.95" / "scores.csv")
    assert scores["path"].str.startswith("train/").all()
    assert (out / "results" / "report.html").stat().st_size > 100_000
    assert "memgen audit: done" in proc.stdout
    # lean: the plan line first, a line per stage, only the high-rate ensemble, Table 3 but not Table 1
    assert "memgen audit plan: 900 images (750 to train on, 8 px grey)" in proc.stdout
    assert "memgen audit: stage members_0 done" in proc.stdout
    assert sorted(p.name for p in (out / "results" / "digits_png" / "mlp").glob("rate*")) == ["rate0.95"]
    assert (out / "results" / "table3.csv").exists() and not (out / "results" / "table1.csv").exists()


def test_audit_config_keeps_only_what_its_scope_needs(tmp_path):
    import memgen.config as mc
    from memgen.audit import audit_config
    from memgen.paths import answer_targets, targets

    lean = mc.validate(audit_config(tmp_path, "photos", "mlp", 16, 0.2))
    assert lean["scope"] == "answer" and list(lean["ensembles"]) == ["rate0.95"]
    assert lean["ablation"]["baseline"] == lean["ablation"]["high_rate"] == "rate0.95"
    wanted = targets(lean, [])
    assert (
        wanted == answer_targets(lean)
        and "results/table3.csv" in wanted
        and "results/table1.csv" not in wanted
    )
    assert not any("loo" in t or "sampling_bias" in t for t in wanted)
    bare = mc.validate(audit_config(tmp_path, "photos", "mlp", 16, 0.2, "memorized"))
    assert "results/table3.csv" not in targets(bare, [])
    full = mc.validate(audit_config(tmp_path, "photos", "mlp", 16, 0.2, "full"))
    assert len(full["ensembles"]) > 1 and "results/table1.csv" in targets(full, [])
    # a large folder trains half the epochs: each epoch has more steps
    large = audit_config(tmp_path, "photos", "mlp", 16, 0.2, n_train=9500)["datasets"]["photos"]["training"]
    assert large["epochs"] == 30 and "epochs" not in lean["datasets"]["photos"]["training"]
    # --members and --epochs: a quicker, coarser look (the benchmark's smoke size)
    quick = mc.validate(audit_config(tmp_path, "photos", "mlp", 16, 0.2, members=64, epochs=10))
    assert quick["ensembles"]["rate0.95"]["members"] == 64
    assert quick["datasets"]["photos"]["training"]["epochs"] == 10


def test_audit_plan_line_and_stage_progress():
    from memgen.audit import Progress, plan, plan_line

    config = {
        "datasets": {"photos": {"training": {"lr_peak": 0.05}}},
        "scope": "answer",
        "ensembles": {"rate0.95": {"members": 256, "rate": 0.95}},
        "utility": {"seeds": 20},
        "training": {"epochs": 60},
        "loo": {"top": 8, "random": 64, "members": 8},
        "shard_size": 32,
    }
    p = plan(config, "photos", "mlp", {"train": 1797, "test": 0, "channels": 1}, 0.2)
    # Table 3's removal set alone: memorized, random and class-matched random removal, x 20 seeds
    assert p["n"] == 1438 and p["utility_runs"] == 60
    # the full study's six removal sets: memorized and random removal each, the class-matched control only
    # for Table 3's set (nothing reads the others'): 20 x (2 x 6 + 1), not 20 x 3 x 6
    full = plan(config | {"scope": "full"}, "photos", "mlp", {"train": 1797, "test": 0, "channels": 1}, 0.2)
    assert full["utility_runs"] == 260 and full["utility_jobs"] == 13
    # leave-one-out: the full models, half A's and half B's 8 top points, 64 random ones, x 8 seeds
    assert full["loo_jobs"] == 1 + 2 * 8 + 64 and p["loo_jobs"] == 0
    assert full["point_epochs"] - p["point_epochs"] == (200 + 81 * 8) * 1438 * 60
    assert p["member_jobs"] == 8 and p["utility_jobs"] == 3 and p["light_jobs"] == 14
    assert p["job_point_epochs"]["members"] == 32 * 0.95 * 1438 * 60
    line = plan_line(p, {"train": 1797, "test": 0, "channels": 1}, 20, 250.0, 2)
    assert line == (
        "memgen audit plan: 1797 images (1438 to train on, 20 px grey), mlp: 256 members at rate 0.95 + 60 "
        "utility runs; about 4 min on 2 core(s) (from one timed epoch)"
    )
    progress = Progress(p, 1e-5, 3.0, 2)
    log = ["Job stats:", "job          count", "---------  -------", "canaries           1",
           "members_0          2", "all                1", "total              4", "",
           "Finished jobid: 3 (Rule: canaries)", "Finished jobid: 1 (Rule: members_0)",
           "Finished jobid: 2 (Rule: members_0)"]  # fmt: skip
    notes = [n for n in map(progress.feed, log) if n]
    assert len(notes) == 2 and notes[0].startswith("memgen audit: stage canaries done (1 of 2)")
    assert notes[1].startswith("memgen audit: stage members_0 done (2 of 2)") and "left" in notes[1]


@pytest.mark.workflow
def test_a_proxy_audit_trains_no_ensemble_and_says_it_is_a_proxy(tmp_path):
    """`memgen audit DIR --proxy`: the proxy models only (no score ensemble, no utility run), the images the
    proxy flags against its canaries named by file, and a summary and last line that say it is a proxy,
    which one, and how well it agreed with the ensemble where memgen measured both (the shipped tables)."""
    folder = digits_folder(tmp_path / "digits_png", test_size=150, images=900)
    out = tmp_path / "audit"
    proc = subprocess.run(
        [*MEMGEN, "audit", str(folder), "--proxy", "--out", str(out), "--", "--max-threads", "1"],
        capture_output=True,
        text=True,
        timeout=guard(900),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert "4 proxy models on every training point (proxy learning_speed; no ensemble)" in proc.stdout
    last = proc.stdout.strip().splitlines()[-1]
    assert "A PROXY, not the ensemble's estimate: learning_speed" in last and "Spearman" in last, last
    pair = out / "results" / "digits_png" / "mlp"
    # the set may be empty (the canaries' quantile is a high bar: memgen/proxies/flag.py); what it holds is
    # at the bar and names files a user can open, and the summary and last line give its size
    flagged = pd.read_csv(pair / "memorized_proxy.csv", keep_default_na=False)
    assert (flagged["score"] >= flagged["tau"]).all() and flagged["path"].map(
        lambda p: (folder / p).is_file()
    ).all()
    assert f"flagged {len(flagged)} images" in last
    assert not list(pair.glob("rate*")) and not (pair / "utility").exists()
    summary = (out / "results" / "summary.rst").read_text()
    assert f"**{len(flagged)} of " in summary
    assert "This is a proxy, not memgen's memorization estimate" in summary and "learning_speed" in summary
    assert "digits, the default study" in summary  # the shipped validation, its dataset named
    assert (out / "results" / "figures" / "proxy_gallery_digits_png_mlp.png").stat().st_size > 10_000
    assert (out / "results" / "report.html").stat().st_size > 50_000
