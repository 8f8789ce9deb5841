"""Provenance records: a JSON sidecar beside every artifact saying what made it.

`<output>.prov.json` (for a directory output `<dir>.prov.json` beside it) holds the rule, wildcards,
params, the config values the rule used, seeds, device, times, code version, package versions, host,
and the path, sha256 and size of every input and output. `memgen.trace` follows the inputs' own
sidecars back to the roots, so a reviewer handed results/table1.csv sees what produced it.

Hashes that records take are cached (see _cached_sha256): a member's 10 MB outputs are read once, by the
job that wrote them, not again by the scores job that lists all 512 of them as inputs.
"""

import contextlib
import datetime as dt
import hashlib
import math
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import memgen
from memgen import numerics
from memgen.errors import MemgenError, fail
from memgen.io import load_json, save_json

FORMAT = "memgen-provenance/1"
SUFFIX = ".prov.json"

# Distribution names on PyPI differ from import names (sklearn); report under the import name.
_PACKAGES = {
    "torch": "torch",
    "torchvision": "torchvision",
    "timm": "timm",
    "numpy": "numpy",
    "scipy": "scipy",
    "sklearn": "scikit-learn",
    "pandas": "pandas",
    "snakemake": "snakemake",
}
_CHUNK = 1 << 20


def sha256(path, cache: bool = False) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks so checkpoints never sit whole in memory.

    A directory hashes as the sha256 of its sorted `relative/path<TAB>sha256<NL>` lines (files only,
    recursively), so renaming, adding or editing any file inside changes it. `cache=True` reuses the
    hash of a file whose stat is unchanged (provenance records); without it the file is always read
    (`memgen trace`, which checks that files still are what their records say).
    """
    path = Path(path)
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}\t{sha256(f, cache)}\n".encode())
        return h.hexdigest()
    return _cached_sha256(path) if cache else _read_sha256(path)


def _read_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# The hash cache: one small file per hashed file version, named by the sha256 of (real path, inode, size,
# mtime_ns, ctime_ns), holding the digest. Why this shape:
# - entries are keyed by the file's stat, so an edited file (new mtime/ctime, or a new inode: memgen's
#   writers replace files atomically) misses and is read again; ctime is in the key because tools that
#   restore an mtime (cp -p, rsync -t, touch -d) cannot restore it. The one blind spot is an in-place
#   rewrite of the same size within one filesystem timestamp tick, which no memgen writer does.
# - one file per entry, each written to a temporary and renamed, needs no lock and no read-modify-write:
#   concurrent jobs (SLURM nodes on NFS included, where sqlite locking is unreliable) never lose or tear
#   an entry; an unreadable or malformed entry is ignored and rewritten; a stale one is never looked up.
# - it lives in results/.memgen-hash-cache (MEMGEN_HASH_CACHE overrides; "" turns it off), so artifact
#   folders hold only artifacts, and deleting results/ or the cache folder at any time is safe.
CACHE_ENV = "MEMGEN_HASH_CACHE"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def _cache_root() -> Path | None:
    env = os.environ.get(CACHE_ENV)
    if env is not None:
        return Path(env) if env else None
    results = Path(os.getcwd()) / "results"
    return results / ".memgen-hash-cache" if results.is_dir() else None


def _stat_key(path: Path) -> str:
    st = os.stat(path)
    ident = f"{os.path.realpath(path)}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
    return hashlib.sha256(ident.encode()).hexdigest()


def _cached_sha256(path: Path) -> str:
    root = _cache_root()
    if root is None:
        return _read_sha256(path)
    key = _stat_key(path)
    entry = root / key[:2] / key
    try:
        digest = entry.read_text(encoding="ascii").strip()
        if _HEX64.fullmatch(digest):
            return digest
    except (OSError, UnicodeDecodeError):  # no entry yet, or a broken one: read the file
        pass
    digest = _read_sha256(path)
    if _stat_key(path) == key:  # not changed while it was read
        tmp = entry.with_name(f".{key}.{os.getpid()}.{os.urandom(4).hex()}")
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(digest + "\n", encoding="ascii")
            os.replace(tmp, entry)
        except OSError:  # a full or read-only disk costs a re-read next time, never the job
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return digest


def nbytes(path) -> int:
    """Size in bytes; a directory's is the sum over its files."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _git(repo_dir, *args) -> str | None:
    try:
        r = subprocess.run(
            ["git", "-C", str(repo_dir), *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):  # no git on this machine, or it hung
        return None
    return r.stdout if r.returncode == 0 else None


def code_version(repo_dir=None) -> dict:
    """{"commit": sha or "unknown", "dirty": bool or "unknown", "modified": [paths]} of a git checkout.

    Defaults to the checkout memgen is imported from: that is the code that ran. Outside a git checkout
    (e.g. an installed wheel) commit and dirty are "unknown" rather than an error.
    Dirty means tracked files differ from the commit; untracked files (results/, logs/) do not count.
    """
    repo_dir = Path(repo_dir) if repo_dir is not None else Path(memgen.__file__).resolve().parent.parent
    commit = _git(repo_dir, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": "unknown", "dirty": "unknown", "modified": []}
    status = _git(repo_dir, "status", "--porcelain", "--untracked-files=no") or ""
    modified = sorted(line[3:] for line in status.splitlines() if line.strip())
    return {"commit": commit.strip(), "dirty": bool(modified), "modified": modified[:50]}


def package_versions() -> dict:
    """Versions of python, memgen and the packages whose behaviour changes results (None if absent)."""
    out = {"python": platform.python_version(), "memgen": memgen.__version__}
    for name, dist in _PACKAGES.items():
        try:
            out[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def record_path(path) -> Path:
    """Where the sidecar of an artifact lives: `<path>.prov.json` (for a directory, beside it)."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def _rel(path, cwd: Path) -> str:
    # Relative to the workflow's working directory, so a results/ tree moved elsewhere still traces;
    # paths outside it (a dataset on a shared disk) stay absolute.
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(cwd).as_posix()
    except ValueError:
        return p.as_posix()


def _flatten(paths) -> list[str]:
    # Snakemake hands named inputs as nested lists (an input function returning one list per key).
    if paths is None:
        return []
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    out = []
    for p in paths:
        out.extend(_flatten(p))
    return out


def _file_entry(path: str, cwd: Path, role: str, rule: str) -> dict:
    if not os.path.exists(path):
        raise fail(
            f"rule {rule}: {role} {path} does not exist when its provenance record is written",
            "write the record after the outputs are complete, and list only files the rule really has",
        )
    return {"path": _rel(path, cwd), "sha256": sha256(path, cache=True), "bytes": nbytes(path)}


def _jsonable(obj):
    # A param of an odd type must not lose a finished job its record: keep its repr, visibly.
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)  # 'nan', 'inf': strict JSON has no such numbers
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:  # numpy / torch scalars
        return _jsonable(obj.item())
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return f"<{type(obj).__name__}> {obj!r}"


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.UTC).isoformat(timespec="seconds")


def write_records(
    rule: str,
    inputs: Iterable[str],
    outputs: Iterable[str],
    params: dict,
    config: dict,
    seeds: dict,
    device: str,
    started: float,
    ended: float,
    log: str | None = None,
    wildcards: dict | None = None,
) -> list[Path]:
    """Write `<output>.prov.json` beside each output (atomically) and return the sidecar paths.

    `started`/`ended` are time.time() values. Every sidecar of one job holds the same record (all inputs
    and all outputs), so any one output explains the whole job. Call it after the outputs are written.
    """
    cwd = Path(os.getcwd()).resolve()
    in_paths, out_paths = _flatten(inputs), _flatten(outputs)
    if not out_paths:
        raise fail(f"rule {rule}: no outputs given to write_records", "pass the rule's output files")
    record = {
        "format": FORMAT,
        "rule": rule,
        "wildcards": dict(wildcards or {}),
        "params": _jsonable(dict(params or {})),
        "config": _jsonable(dict(config or {})),
        "seeds": _jsonable(dict(seeds or {})),
        "device": device,
        "started": _iso(started),
        "ended": _iso(ended),
        "duration_s": round(ended - started, 3),
        "code": code_version(),
        "packages": package_versions(),
        "host": {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "python_executable": sys.executable,
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            # what decides the last bits of a trained member: kernel path, math libraries, CPU
            "numerics": numerics.record(),
        },
        "cwd": cwd.as_posix(),
        "log": _rel(log, cwd) if log else None,
        "inputs": [_file_entry(p, cwd, "input", rule) for p in in_paths],
        "outputs": [_file_entry(p, cwd, "output", rule) for p in out_paths],
    }
    written = []
    for p in out_paths:
        sidecar = record_path(Path(p.rstrip("/")))
        save_json(sidecar, record)
        written.append(sidecar)
    return written


def write_job_records(smk, *, config: dict, seeds: dict, device: str, started: float, ended: float):
    """write_records for the `snakemake` object a workflow script receives: takes rule, inputs, outputs,
    params, wildcards and log from it, so a script only adds what the rule used and how it ran."""
    params = {k: v for k, v in smk.params.items()}
    wildcards = {k: v for k, v in smk.wildcards.items()}
    log = smk.log[0] if len(smk.log) else None
    return write_records(
        smk.rule,
        list(smk.input),
        list(smk.output),
        params,
        config,
        seeds,
        device,
        started,
        ended,
        log=log,
        wildcards=wildcards,
    )


def read_record(path) -> dict | None:
    """The provenance record of an artifact (or a sidecar path itself); None when it has none.

    A sidecar that exists but is unreadable or of another format is a MemgenError naming it.
    """
    path = Path(path)
    sidecar = path if path.name.endswith(SUFFIX) else record_path(Path(str(path).rstrip("/")))
    if not sidecar.exists():
        return None
    artifact = str(sidecar)[: -len(SUFFIX)]
    # The sidecar is not a Snakemake output: the fix is rerunning the rule of the artifact it describes.
    fix = f"rerun the rule that makes {artifact}: snakemake --forcerun {artifact}"
    try:
        record = load_json(sidecar)
    except MemgenError as e:
        raise fail(f"provenance record {sidecar} cannot be read ({str(e).split('. Fix:')[0]})", fix) from None
    if record.get("format") != FORMAT or not isinstance(record.get("outputs"), list):
        raise fail(f"{sidecar} is not a {FORMAT} record (format: {record.get('format')!r})", fix)
    return record
