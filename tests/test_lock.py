"""requirements.lock (exact versions and hashes, made by `bash ci/lock.sh`) is the environment memgen is
installed and tested in: it satisfies pyproject.toml, envs/memgen.yaml pins the same versions, the README
and CI install from it, and the Python running these tests is exactly it."""

import platform
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
FIX = "regenerate it: bash ci/lock.sh (docs/install.md)"


def lock_entries() -> dict[str, dict]:
    """canonical name -> {"version", "hashes"} of every package in the lock."""
    entries: dict[str, dict] = {}
    current = None
    for line in LOCK.read_text().splitlines():
        m = PIN.match(line)
        if m:
            current = {"name": m.group(1), "version": m.group(2), "hashes": []}
            entries[canonicalize_name(m.group(1))] = current
        elif current is not None and "--hash=sha256:" in line:
            current["hashes"].append(line.split("--hash=sha256:")[1].split()[0])
    return entries


def test_every_package_is_pinned_with_hashes():
    entries = lock_entries()
    assert len(entries) > 50, f"{LOCK.name} lists {len(entries)} packages; {FIX}"
    for name, e in entries.items():
        assert e["hashes"] and all(re.fullmatch(r"[0-9a-f]{64}", h) for h in e["hashes"]), name
    assert "bash ci/lock.sh" in LOCK.read_text().split("\n", 3)[1], "the lock's header names its command"
    # a package outside the lock would be installed unpinned: pip's hash-checking mode refuses that
    assert "torch" in entries and entries["torch"]["version"] == "2.14.1"


def test_lock_satisfies_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    entries = lock_entries()
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        req = Requirement(spec)
        pinned = entries.get(canonicalize_name(req.name))
        assert pinned, f"{req.name} (pyproject.toml) is not in {LOCK.name}; {FIX}"
        assert req.specifier.contains(pinned["version"], prereleases=True), (
            f"{LOCK.name} pins {req.name}=={pinned['version']}, pyproject.toml asks {req.specifier}; {FIX}"
        )


def test_conda_environment_pins_the_lock_versions():
    env = yaml.safe_load((REPO / "envs" / "memgen.yaml").read_text())
    entries = lock_entries()
    deps = env["dependencies"]
    assert "python=3.11" in deps and "--python-version 3.11" in (REPO / "ci" / "lock.sh").read_text()
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    pins = [p for p in pip if "==" in p]
    assert len(pins) >= 10, pins
    for pin in pins:
        name, version = pin.split("==")
        locked = entries.get(canonicalize_name(name))
        assert locked and locked["version"] == version, (
            f"envs/memgen.yaml pins {pin}, {LOCK.name} has {locked and locked['version']}: "
            f"set envs/memgen.yaml to the lock's version"
        )


def test_readme_and_ci_install_from_the_lock():
    for path in ("README.md", "ci/test.sh"):
        text = (REPO / path).read_text()
        assert "pip install -r requirements.lock" in text or "-r requirements.lock" in text, path
        assert "--no-deps" in text, f"{path}: memgen itself must not pull unpinned dependencies"


@pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64" and sys.version_info[:2] == (3, 11)),
    reason="the lock is for Linux x86_64, CPython 3.11",
)
def test_this_python_is_the_locked_environment():
    """What CI installed (ci/test.sh, the README's command) is the lock, package for package."""
    wrong = {}
    for name, e in lock_entries().items():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have != e["version"]:
            wrong[e["name"]] = f"{have} installed, {e['version']} locked"
    assert not wrong, f"this Python is not the locked environment: {wrong}; fix: pip install -r {LOCK.name}"
