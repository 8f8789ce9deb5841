"""`memgen audit DIR`: which images of a user's own folder a classifier memorizes, in one command.

It writes `<out>/config.yaml` (the default study's settings with one dataset, the folder) and runs the
workflow there (`snakemake all`), then builds the HTML report. By default only what the answer needs runs
(`scope: answer`): the high-rate ensemble, canaries, duplicates, the fit check, thresholds, memorized.csv,
the gallery and Table 3 (memorized vs random removal); `--no-utility` drops Table 3 (`scope: memorized`),
`--full` runs the paper's whole study. Before training it prints the plan in one line, with a time
estimated from one timed epoch, and while Snakemake runs one line per finished stage with the time left.
Everything lands under `<out>/`: results/, logs/, results/report.html; `results/<name>/<arch>/memorized.csv`
names the flagged files. Rerunning the same command continues where it stopped.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from memgen.audit_progress import Progress, job_overhead, light_jobs, minutes, plan_seconds
from memgen.errors import fail

REPO = Path(__file__).resolve().parents[1]

# The recipe of an audit: gentler than the default study's lr_peak 0.2, which kills most hidden units of an
# MLP on inputs larger than 8x8 (docs/decisions.md: Audit learning rate); the fit check says when a folder
# needs other settings.
AUDIT_TRAINING = {"lr_peak": 0.05}
# Above this many training images an epoch has enough steps that half the epochs fit the folder: 30 epochs fit
# 99.6 % of a 2,000-image Fashion-MNIST subset's natural points (configs/fashion-cpu.yaml)
LARGE_FOLDER = 5000


def audit_training(n_train: int) -> dict:
    """The audit's recipe overrides for a folder of n_train training images."""
    return {**AUDIT_TRAINING, **({"epochs": 30} if n_train > LARGE_FOLDER else {})}


def workflow_dir() -> Path:
    """The memgen checkout whose Snakefile an audit runs."""
    if not (REPO / "Snakefile").is_file():
        raise fail(
            f"memgen audit runs the workflow of a memgen checkout, and {REPO} has no Snakefile",
            "install memgen from its repository (pip install -e <checkout>) and run it from there",
        )
    return REPO


def audit_config(
    folder: Path,
    name: str,
    arch: str,
    image_size: int,
    test_fraction: float,
    scope: str = "answer",
    n_train: int = 0,
    members: int | None = None,
    epochs: int | None = None,
    proxy: str | None = None,
) -> dict:
    """The default study's config with `datasets` replaced by the folder; a scope other than full keeps only
    the high-rate ensemble, which the answer (the all-fixes variant) rests on (scope proxy trains none of it:
    its recipe is the proxy models'). `members` (K of the high-rate ensemble) and `epochs` override the
    default study's for a quicker, coarser look; `proxy` is the proxy scope proxy flags with."""
    config = yaml.safe_load((workflow_dir() / "config.yaml").read_text())
    config["scope"] = scope
    if proxy:
        config["proxies"]["audit"] = proxy
    if scope != "full":
        high = config["ablation"]["high_rate"]
        config["ensembles"] = {high: config["ensembles"][high]}
        config["ablation"]["baseline"] = config["analysis"]["reference"] = high
    config["datasets"] = {
        name: {
            "kind": "imagefolder",
            "root": str(folder),
            "image_size": image_size,
            "test_fraction": test_fraction,  # used only when the folder has no test/
            "duplicates": "detect",
            "archs": {arch: {}},
            "training": audit_training(n_train) | ({"epochs": epochs} if epochs else {}),
        }
    }
    if members:
        config["ensembles"][config["ablation"]["high_rate"]]["members"] = members
    return config


def check_folder(folder: Path) -> Path:
    folder = folder.expanduser().resolve()
    if not (folder / "train").is_dir():
        raise fail(
            f"{folder} has no train/ folder",
            f"put the images in {folder}/train/<class>/ (and optionally {folder}/test/<class>/)",
        )
    return folder


def native_size(folder: Path, sample: int = 200) -> int:
    """The folder's typical image side: the median shorter side of up to `sample` training images (headers
    only), within [8, 32]: upsampling adds no information and costs time (docs/decisions.md: Audit
    resolution)."""
    from PIL import Image

    from memgen.data.loaders import IMAGE_SUFFIXES

    files = sorted(p for p in (folder / "train").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    sides = []
    for p in files[:: max(1, len(files) // sample)][:sample]:
        try:
            with Image.open(p) as img:
                sides.append(min(img.size))
        except Exception:
            continue  # the dataset index names broken files; here one is only not counted
    return int(min(32, max(8, np.median(sides)))) if sides else 32


def snakemake_command(out: Path, cores: int, profile: str | None, extra: list[str]) -> list[str]:
    exe = Path(sys.executable).parent / "snakemake"
    cmd = [str(exe) if exe.exists() else "snakemake", "--snakefile", str(workflow_dir() / "Snakefile")]
    cmd += ["--directory", str(out), "--configfile", str(out / "config.yaml")]
    cmd += ["--profile", profile] if profile else ["--cores", str(cores)]
    return [*cmd, *extra]


def count_images(folder: Path) -> dict:
    """Training and test images of the folder (test: its test/ folder, else none: split from train/), and
    whether they are grey: a sample of up to 50 headers, grey only when every one is
    (memgen.data.stream.is_grey, which decides the channels the workflow reads)."""
    from PIL import Image

    from memgen.data.loaders import IMAGE_SUFFIXES
    from memgen.data.stream import is_grey

    def listing(split):
        root = folder / split
        return (
            sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if root.is_dir() else []
        )

    train, test = listing("train"), listing("test")
    grey = []
    for p in train[:: max(1, len(train) // 50)][:50]:
        try:
            with Image.open(p) as img:
                grey.append(is_grey(img))
        except Exception:
            continue  # a broken file is named by the dataset index, not here
    return {"train": len(train), "test": len(test), "channels": 1 if grey and all(grey) else 3}


def train_count(images: dict, test_fraction: float) -> int:
    """The images members train on: all of train/ when the folder has test/, else what the split leaves."""
    return images["train"] if images["test"] else round(images["train"] * (1 - test_fraction))


def plan(config: dict, name: str, arch: str, images: dict, test_fraction: float) -> dict:
    """What the run trains: members of each ensemble (rate, training points each), utility runs and (the full
    study) leave-one-out models; `point_epochs` is the training points they go through; the jobs of each kind
    and one job's point-epochs (`job_point_epochs`: members, utility, loo) for the progress lines."""
    n = train_count(images, test_fraction)
    if config["scope"] == "proxy":
        return proxy_plan(config, name, arch, n)
    members = {e: (v["members"], v["rate"]) for e, v in config["ensembles"].items()}
    seeds = config["utility"]["seeds"] if config["scope"] in ("full", "answer") else 0
    sets = 6 if config["scope"] == "full" else 1  # the ablation's removal sets each get their utility runs
    # memorized and random removal for every set, and the class-matched control for Table 3's set only
    runs = seeds * (2 * sets + 1)
    epochs = config["datasets"][name]["training"].get("epochs", config["training"]["epochs"])
    loo = config["loo"]
    loo_points = 1 + 2 * loo["top"] + loo["random"]  # the full models, both halves' top sets, the random ones
    loo_models = loo_points * loo["members"] if config["scope"] == "full" else 0
    point_epochs = (sum(k * r * n for k, r in members.values()) + (runs + loo_models) * n) * epochs
    shard, ushard = config.get("shard_size", 32), config["utility"].get("shard_size", 20)
    member_jobs = sum(k // shard for k, _ in members.values())
    loo_jobs = loo_points if loo_models else 0
    mean_rate = sum(k * r for k, r in members.values()) / max(1, sum(k for k, _ in members.values()))
    per_job = {
        "members": shard * mean_rate * n * epochs,
        "utility": ushard * n * epochs,
        "loo": loo["members"] * n * epochs,
    }
    return {
        "n": n,
        "members": members,
        "utility_runs": runs,
        "point_epochs": point_epochs,
        "arch": arch,
        "member_jobs": member_jobs,
        "utility_jobs": -(-runs // ushard),
        "loo_jobs": loo_jobs,
        "light_jobs": light_jobs(config),
        "job_point_epochs": per_job,
    }


def proxy_plan(config: dict, name: str, arch: str, n: int) -> dict:
    """A proxy audit trains proxies.models models on all n points, then measures each point's curvature
    (memgen.plan.proxy.proxy_point_epochs); no member, utility run or leave-one-out model."""
    from memgen.plan.proxy import proxy_point_epochs

    epochs = config["datasets"][name]["training"].get("epochs", config["training"]["epochs"])
    point_epochs = proxy_point_epochs(config["proxies"], n, epochs)
    return {
        "n": n,
        "members": {},
        "proxy_models": config["proxies"]["models"],
        "proxy": config["proxies"]["audit"],
        "utility_runs": 0,
        "point_epochs": point_epochs,
        "arch": arch,
        "member_jobs": 0,
        "utility_jobs": 0,
        "loo_jobs": 0,
        "proxy_jobs": 1,
        "light_jobs": light_jobs(config),
        "job_point_epochs": {"proxy": point_epochs},
    }


def timed_epoch(
    config: dict, name: str, arch: str, n: int, side: int, channels: int, classes: int = 10
) -> float:
    """Seconds per training point per member-epoch on this machine with the audit's recipe (one thread: as the
    workflow's jobs run on a busy machine, a conservative estimate)."""
    from memgen.ensemble.timing import seconds_per_point_epoch

    recipe = {**config["training"], **config["datasets"][name]["training"]}
    return seconds_per_point_epoch(recipe, arch, n, (channels, side, side), classes, config["shard_size"])


def plan_line(p: dict, images: dict, side: int, seconds: float | None, cores: int) -> str:
    ens = ", ".join(f"{k} members at rate {r}" for k, r in p["members"].values())
    if "proxy" in p:
        ens = f"{p['proxy_models']} proxy models on every training point (proxy {p['proxy']}; no ensemble)"
    runs = f" + {p['utility_runs']} utility runs" if p["utility_runs"] else ""
    est = "" if seconds is None else f"; about {minutes(seconds)} on {cores} core(s) (from one timed epoch)"
    colour = "grey" if images["channels"] == 1 else "colour"
    return (
        f"memgen audit plan: {images['train'] + images['test']} images ({p['n']} to train on, {side} px "
        f"{colour}), {p['arch']}: {ens}{runs}{est}"
    )


def follow(cmd: list[str], progress: Progress) -> int:
    """Run Snakemake, passing its output through, and print a progress line per finished stage."""
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            note = progress.feed(line)
            if note:
                print(note, flush=True)
    return proc.returncode


def run_audit(
    folder,
    out=None,
    name=None,
    arch="mlp",
    image_size=None,
    test_fraction=0.2,
    cores=2,
    profile=None,
    dry_run=False,
    extra=(),
    scope="answer",
    members=None,
    epochs=None,
    proxy=None,
) -> int:
    """Write the config, print the plan, run the study, build the report. Returns Snakemake's status."""
    import memgen.config as mc

    folder = check_folder(Path(folder))
    name = name or "".join(c if c.isalnum() or c in "_-" else "_" for c in folder.name)
    out = Path(out or f"audit-{name}").resolve()
    if image_size is None:
        image_size = native_size(folder)
        print(f"memgen audit: image size {image_size} px (the images' typical side, at most 32)", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    images = count_images(folder)
    n_train = train_count(images, test_fraction)
    config = audit_config(
        folder, name, arch, image_size, test_fraction, scope, n_train, members, epochs, proxy
    )
    mc.validate(yaml.safe_load(yaml.safe_dump(config)))  # a wrong option fails here, in one line
    (out / "config.yaml").write_text(
        "# written by `memgen audit`: the default study's settings on one image folder; edit and rerun\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    p = plan(config, name, arch, images, test_fraction)
    spe, overhead, seconds = None, 3.0, None
    if not dry_run and profile is None and p["n"]:  # a cluster's speed is not this machine's
        spe = timed_epoch(config, name, arch, p["n"], image_size, images["channels"])
        overhead = job_overhead()
        seconds = plan_seconds(p, spe, overhead, cores)
    print(plan_line(p, images, image_size, seconds, cores), flush=True)
    if spe is not None:  # what every estimate below rests on (memgen/audit_progress.py)
        print(
            f"memgen audit: cost model: {spe * 1e6:.4f} us per training point-epoch, {overhead:.1f} s per job"
        )
    cmd = snakemake_command(out, cores, profile, ["all", *(["-n"] if dry_run else []), *extra])
    print("memgen audit:", " ".join(cmd), flush=True)
    code = subprocess.run(cmd).returncode if dry_run else follow(cmd, Progress(p, spe, overhead, cores))
    if code or dry_run:
        return code
    return report_and_say_done(out, name, arch, cores, config)


def report_and_say_done(out: Path, name: str, arch: str, cores: int, config: dict) -> int:
    """Build the HTML report, then the closing lines: where the flagged files are (a proxy audit's last
    line says it is a proxy). Returns the report's status."""
    report = out / "results" / "report.html"
    code = subprocess.run(snakemake_command(out, cores, None, ["--report", str(report)])).returncode
    if code == 0 and config["scope"] == "proxy":
        print(f"memgen audit: report (summary first): {report}")
        print(proxy_done_line(out, name, arch, config))
    elif code == 0:
        print(f"memgen audit: done. Flagged files: {out}/results/{name}/{arch}/memorized.csv")
        print(f"memgen audit: report (summary first): {report}")
    return code


def proxy_done_line(out: Path, name: str, arch: str, config: dict) -> str:
    """A proxy audit's last line: that it is a proxy, which one, and how well it agreed with the ensemble
    where memgen measured both (memgen.proxy_report.agreement)."""
    from memgen.proxy_report import agreement

    flagged = out / "results" / name / arch / "memorized_proxy.csv"
    proxy = config["proxies"]["audit"]
    return (
        f"memgen audit: done. A PROXY, not the ensemble's estimate: {proxy} from "
        f"{config['proxies']['models']} models flagged {sum(1 for _ in open(flagged)) - 1} images "
        f"({flagged}); {agreement(proxy, config['proxies']['audit_models'], out, name, arch)}"
    )
