"""`memgen verify`: check a whole results folder against its provenance records, and repair what differs.

Snakemake notices a missing file or one older than its inputs; it does not notice a file whose bytes changed
while its modification time did not (a truncated copy, `cp -p`, a restore from backup) or a hand-edited
table newer than its inputs. Every artifact has a record (`<file>.prov.json`, memgen/provenance.py) with
the sha256 its rule wrote and the sha256 of every input it was made from, so one pass over the records
finds them all:

- CHANGED   the file's sha256 is not its record's (truncated, edited, half-written by a killed job);
- MISSING   the record is there, the file is not;
- STALE     an input it was made from is now another version: the input's own record (it was remade
            since) or, for an input without a record (a raw file such as a duplicate list), its bytes;
- BAD RECORD the sidecar cannot be read;
- NOT BUILT a file the workflow's `all` target needs has neither file nor record (asked of Snakemake);
- NO RECORD a file `all` needs is there without a record (made outside the workflow, or by a job killed
            between writing it and its record).

Files downstream of a CHANGED or MISSING one are not listed: they were made from the version its record
holds, and its repair reruns them.

Repair never edits a file: it reruns, through Snakemake, the job that makes each listed file
(`--forcerun FILE`; for a member's outputs.npz that is the members_<first> job of its shard, which
rewrites the shard's other members too) and, as Snakemake does for any job whose input was remade, every
job downstream of it. Snakemake removes a job's old outputs before running it.
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from memgen import runlock
from memgen.errors import MemgenError, fail
from memgen.provenance import SUFFIX, nbytes, read_record, sha256

KINDS = ("changed", "missing", "stale", "bad record", "not built", "no record")


def _key(path, root: Path) -> str:
    # records spell paths relative to the workflow directory (absolute outside it), so keys do too
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(Path(os.path.abspath(root))).as_posix()
    except ValueError:
        return p.as_posix()


def _fs(key: str, root: Path) -> Path:
    p = Path(key)
    return p if p.is_absolute() else Path(root) / p


def sidecars(folder) -> list[Path]:
    """Every `*.prov.json` under `folder`, sorted; hidden folders (the hash cache) are skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / f for f in filenames if f.endswith(SUFFIX)]
    return sorted(found)


class _Files:
    """Records and raw-input hashes, each read once per verify (a scores record lists every member)."""

    def __init__(self, root: Path):
        self.root = root
        self._records: dict[str, dict | None | MemgenError] = {}
        self._raw: dict[str, str | None] = {}

    def record(self, key: str) -> dict | None:
        """The record of `key`, None without one; an unreadable one raises its MemgenError (every time)."""
        if key not in self._records:
            try:
                self._records[key] = read_record(_fs(key, self.root))
            except MemgenError as e:
                self._records[key] = e
        got = self._records[key]
        if isinstance(got, MemgenError):
            raise got
        return got

    def raw_sha(self, key: str) -> str | None:
        """sha256 of a file without a record as it is now; None when it is gone."""
        if key not in self._raw:
            fs = _fs(key, self.root)
            self._raw[key] = sha256(fs) if fs.exists() else None
        return self._raw[key]


def _own(record: dict, key: str) -> dict | None:
    return next((o for o in record["outputs"] if o["path"].rstrip("/") == key.rstrip("/")), None)


def _problem(path: str, kind: str, record: dict | None, reason: str) -> dict:
    record = record or {}
    return {
        "path": path,
        "kind": kind,
        "rule": record.get("rule"),
        "wildcards": record.get("wildcards") or {},
        "reason": reason,
    }


def _input_drift(inp: dict, files: _Files) -> str | None:
    """Why the input `inp` ({path, sha256} as a record lists it) is no longer the version used, or None.
    An input with a record is judged by that record (its file is checked on its own line)."""
    key = inp["path"]
    try:
        record = files.record(key)
    except MemgenError:
        return None  # its own line says so
    if record is not None:
        own = _own(record, key)
        if own is None or own["sha256"] == inp["sha256"]:
            return None
        return f"made from {key} sha256 {inp['sha256'][:12]}, remade since (its record: {own['sha256'][:12]})"
    now = files.raw_sha(key)
    if now is None:
        return f"its input {key} (no record) is gone"
    if now != inp["sha256"]:
        return f"made from {key} sha256 {inp['sha256'][:12]}, which is now {now[:12]} (no record)"
    return None


def check_file(key: str, files: _Files) -> dict | None:
    """The problem of one recorded artifact (its record read through `files`), or None when it is intact."""
    try:
        record = files.record(key)
    except MemgenError as e:
        return _problem(key, "bad record", None, str(e).split(". Fix:")[0])
    fs = _fs(key, files.root)
    own = _own(record, key)
    if not fs.exists():
        return _problem(key, "missing", record, "its record is there, the file is not")
    if own is None:
        return _problem(
            key, "changed", record, "its record does not list it (a record copied from another file?)"
        )
    now = sha256(fs)
    if now != own["sha256"]:
        size = f"{nbytes(fs)} bytes, recorded {own['bytes']}"
        return _problem(
            key, "changed", record, f"sha256 {now[:12]} is not its record's {own['sha256'][:12]} ({size})"
        )
    drift = [d for d in (_input_drift(i, files) for i in record.get("inputs", [])) if d]
    if drift:
        more = f"; and {len(drift) - 2} more inputs" if len(drift) > 2 else ""
        return _problem(key, "stale", record, "; ".join(drift[:2]) + more)
    return None


def check_records(root=".", folders=("results", "logs")) -> tuple[list[dict], int]:
    """(problems, number of recorded files checked) for every sidecar under `folders` (relative to the
    workflow directory `root`)."""
    root = Path(root)
    files = _Files(root)
    keys = [_key(str(s)[: -len(SUFFIX)], root) for f in folders for s in sidecars(root / f)]
    problems = [p for k in keys if (p := check_file(k, files)) is not None]
    return problems, len(keys)


def format_line(p: dict) -> str:
    """One line per problem: KIND, path, the rule that makes it (with its wildcards), why."""
    rule = p["rule"] or "?"
    wc = ", ".join(f"{k}={v}" for k, v in p["wildcards"].items())
    made = f"rule {rule}" + (f" ({wc})" if wc else "")
    return f"{p['kind'].upper():<10} {p['path']}  [{made}]  {p['reason']}"


def snakemake_base(root=".", cores: int = 2, configfiles=(), extra=()) -> list[str]:
    """The Snakemake command for the workflow in `root`: its own Snakefile, or (a `memgen audit` folder)
    the memgen checkout's, with root's config.yaml unless --configfile names others."""
    from memgen.audit import workflow_dir

    root = Path(root)
    exe = Path(sys.executable).parent / "snakemake"
    snakefile = root / "Snakefile" if (root / "Snakefile").is_file() else workflow_dir() / "Snakefile"
    cmd = [str(exe) if exe.exists() else "snakemake", "--snakefile", str(snakefile), "--directory", str(root)]
    if not configfiles and snakefile.parent.resolve() != root.resolve() and (root / "config.yaml").is_file():
        configfiles = [str(root / "config.yaml")]
    if configfiles:
        cmd += ["--configfile", *map(str, configfiles)]
    return [*cmd, "--cores", str(cores), *extra]


def _snakemake(cmd: list[str], what: str) -> str:
    """Run a planning command (a summary or a dry run) and return its output; a failure is one message."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()][-6:]
        raise fail(
            f"Snakemake could not {what}: {' | '.join(tail)}",
            "run memgen verify in the workflow directory (or give --root and --configfile as for snakemake); "
            "--records-only checks the records without Snakemake",
        )
    return proc.stdout + proc.stderr


def expected_files(base: list[str], target: str = "all") -> list[dict]:
    """Snakemake's summary of `target`: {path, rule, status, plan} of every file of its jobs."""
    out = _snakemake([*base, "--summary", target], f"list the files of `{target}`")
    rows = []
    for line in out.splitlines():
        cols = line.split("\t")
        if len(cols) == 6 and cols[0] != "output_file":
            rows.append({"path": cols[0], "rule": cols[2], "status": cols[4], "plan": cols[5]})
    return rows


def from_summary(rows: list[dict], problems: list[dict], root=".") -> tuple[list[dict], list[dict]]:
    """(problems, files Snakemake would update for other reasons) from a summary of `all`: a file it needs
    that has no record is NOT BUILT when absent, NO RECORD when present (made outside the workflow, or by a
    job killed before it wrote its record); one with a record was checked above. A pending update not
    listed is Snakemake's own business (downstream of a listed file, or params, code or inputs changed)."""
    listed = {p["path"] for p in problems}
    found = []
    for r in rows:
        if r["path"] in listed or read_record(_fs(r["path"], Path(root))) is not None:
            continue
        if r["status"] == "missing":
            found.append(
                _problem(r["path"], "not built", r, "`all` needs it; there is no file and no record")
            )
        else:
            found.append(_problem(r["path"], "no record", r, "`all` needs it; the file has no record"))
    listed |= {p["path"] for p in found}
    other = [r for r in rows if r["plan"] == "update pending" and r["path"] not in listed]
    return found, other


def repair_command(base: list[str], problems: list[dict], target: str = "all") -> list[str]:
    """Snakemake rerunning the job of every listed file and what depends on them: the files are targets
    besides `target` (so a file `all` does not need is rebuilt too) and forced, since a CHANGED file with
    its old mtime looks finished to Snakemake; --rerun-incomplete, since a killed run's half files are the
    kind of damage this repairs."""
    files = list(dict.fromkeys(p["path"] for p in problems))
    forced = [p["path"] for p in problems if p["kind"] != "not built"]
    cmd = [*base, "--rerun-incomplete", target, *files]
    return cmd + (["--forcerun", *forced] if forced else [])


def job_stats(dry_run_output: str) -> list[str]:
    """The `Job stats` table (rule, count) and the `Reasons` block of a Snakemake dry run's output."""
    lines = dry_run_output.splitlines()
    out: list[str] = []
    if "Job stats:" in lines:
        start = lines.index("Job stats:")
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("total")), len(lines) - 1)
        out += lines[start : end + 1]
    if "Reasons:" in lines:
        out.append("Reasons:")
        for line in lines[lines.index("Reasons:") + 1 :]:
            if not line.startswith("    "):
                break
            if "check individual jobs" not in line:
                out.append(line)
    return out or ["(Snakemake plans no job)"]


def find_problems(root, folders, base: list[str] | None) -> tuple[list[dict], list[dict], int]:
    """(problems, files Snakemake would update for other reasons, recorded files checked): the records
    under `folders`, then, given a Snakemake command `base`, what `all` needs and nobody built."""
    problems, checked = check_records(root, folders)
    other: list[dict] = []
    if base is not None:
        found, other = from_summary(expected_files(base), problems, root)
        problems += found
    return problems, other, checked


def report(problems: list[dict], other: list[dict], checked: int, where: str) -> list[str]:
    """What verify prints: a line per problem, a note on other pending updates, and a closing line."""
    lines = [format_line(p) for p in problems]
    if other:
        rules = ", ".join(sorted({r["rule"] for r in other}))
        lines.append(
            f"note: Snakemake also plans to update {len(other)} file(s) (rules {rules}): downstream of the "
            "files above, or with changed inputs, params or code; `snakemake -n all` says why"
        )
    if problems:
        lines.append(
            f"memgen verify: {len(problems)} file(s) differ from their records or are missing ({checked} "
            f"recorded files checked under {where}); memgen verify --repair reruns their jobs and what "
            "depends on them (memgen verify -n lists those jobs)"
        )
    else:
        lines.append(f"memgen verify: all {checked} recorded files under {where} match their records")
    return lines


def _run_repair(base: list[str], problems: list[dict], dry_run: bool) -> int | None:
    """Print the dry run of the repair, then (unless dry_run) run it; Snakemake's exit status, None if
    only planned."""
    cmd = repair_command(base, problems)
    print(f"\nmemgen verify: the jobs a repair reruns (dry run of: {shlex.join(cmd)})")
    print("\n".join(job_stats(_snakemake([*cmd, "--dry-run"], "plan the repair"))), flush=True)
    if dry_run:
        return None
    print("\nmemgen verify: repairing ...", flush=True)
    return _execute(cmd)


def _execute(cmd: list[str]) -> int:
    """Run the repair with Snakemake's output on the terminal: it may train for hours."""
    return subprocess.run(cmd, check=False).returncode


def verify(
    root=".",
    results="results",
    *,
    repair=False,
    dry_run=False,
    cores=2,
    configfiles=(),
    records_only=False,
    extra=(),
) -> int:
    """`memgen verify`: print every file of `results` that differs from its record (and, unless
    records_only, every file `all` needs that is missing); with repair (or dry_run: plan only) rerun
    their jobs through Snakemake and verify again. 0 when all is well (after a repair), 1 otherwise."""
    root = Path(root)
    if not (root / results).is_dir():
        raise fail(
            f"{root / results} is not a folder",
            "run memgen verify in the workflow directory, or give --results / --root",
        )
    held = runlock.note_if_held(root / results)
    if held:
        print(f"{held}; files it is writing may show as changed", file=sys.stderr)
    base = (
        None if records_only and not (repair or dry_run) else snakemake_base(root, cores, configfiles, extra)
    )
    folders = [results, *(["logs"] if (root / "logs").is_dir() else [])]
    where = "/, ".join(folders) + "/"
    problems, other, checked = find_problems(root, folders, None if records_only else base)
    print("\n".join(report(problems, other, checked, where)), flush=True)
    if not problems or not (repair or dry_run):
        return 1 if problems else 0
    status = _run_repair(base, problems, dry_run)
    if status is None:
        return 1
    if status != 0:
        print(
            f"memgen verify: Snakemake stopped (exit {status}), its messages above say why; fix that and "
            "run memgen verify --repair again"
        )
        return 1
    print("\nmemgen verify: after the repair")
    problems, other, checked = find_problems(root, folders, None if records_only else base)
    print("\n".join(report(problems, other, checked, where)))
    return 1 if problems else 0
