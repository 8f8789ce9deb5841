"""`memgen audit DIR`: the whole study on a user's own image folder, in one command.

It writes `<out>/config.yaml` (the default study's settings with one dataset, the folder) and runs the
workflow there (`snakemake all`), then builds the HTML report. Everything lands under `<out>/`:
results/, logs/, results/report.html; `results/<name>/<arch>/memorized.csv` names the flagged files.
Rerunning the same command continues where it stopped (Snakemake reruns only what is missing or stale).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from memgen.errors import fail

REPO = Path(__file__).resolve().parents[1]

# The recipe of an audit: gentler than the default study's lr_peak 0.2, which kills most hidden units of an
# MLP on inputs larger than 8x8 (docs/decisions.md: Audit learning rate); the fit check says when a folder
# needs other settings.
AUDIT_TRAINING = {"lr_peak": 0.05}


def workflow_dir() -> Path:
    """The memgen checkout whose Snakefile an audit runs."""
    if not (REPO / "Snakefile").is_file():
        raise fail(
            f"memgen audit runs the workflow of a memgen checkout, and {REPO} has no Snakefile",
            "install memgen from its repository (pip install -e <checkout>) and run it from there",
        )
    return REPO


def audit_config(folder: Path, name: str, arch: str, image_size: int, test_fraction: float) -> dict:
    """The default study's config with `datasets` replaced by the folder (as the issue's user wrote it)."""
    config = yaml.safe_load((workflow_dir() / "config.yaml").read_text())
    config["datasets"] = {
        name: {
            "kind": "imagefolder",
            "root": str(folder),
            "image_size": image_size,
            "test_fraction": test_fraction,  # used only when the folder has no test/
            "duplicates": "detect",
            "archs": {arch: {}},
            "training": dict(AUDIT_TRAINING),
        }
    }
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
) -> int:
    """Write the config, run the study, build the report. Returns Snakemake's exit status."""
    import memgen.config as mc

    folder = check_folder(Path(folder))
    name = name or "".join(c if c.isalnum() or c in "_-" else "_" for c in folder.name)
    out = Path(out or f"audit-{name}").resolve()
    if image_size is None:
        image_size = native_size(folder)
        print(f"memgen audit: image size {image_size} px (the images' typical side, at most 32)", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    config = audit_config(folder, name, arch, image_size, test_fraction)
    mc.validate(yaml.safe_load(yaml.safe_dump(config)))  # a wrong option fails here, in one line
    (out / "config.yaml").write_text(
        "# written by `memgen audit`: the default study on one image folder; edit and rerun the command\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    cmd = snakemake_command(out, cores, profile, ["all", *(["-n"] if dry_run else []), *extra])
    print("memgen audit:", " ".join(cmd), flush=True)
    code = subprocess.run(cmd).returncode
    if code or dry_run:
        return code
    report = out / "results" / "report.html"
    code = subprocess.run(snakemake_command(out, cores, None, ["--report", str(report)])).returncode
    if code == 0:
        print(f"memgen audit: done. Flagged files: {out}/results/{name}/{arch}/memorized.csv")
        print(f"memgen audit: report (summary first): {report}")
    return code
