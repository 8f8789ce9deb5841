"""One Snakemake run at a time per results folder.

Snakemake's own lock (.snakemake/locks) only stops a second run when the two would write the same files, and
then says neither who holds the lock nor whether it is still running. Two memgen runs with different targets
in one results folder still share files they both may (re)write (the dataset index, canaries, masks, scores
an analysis needs, the hash cache), so the workflow takes `results/.memgen-run.lock` when it starts executing
(rules/runlock.smk, `onstart`: real runs only, not dry runs, not SLURM jobs) and gives it back when it ends.

The lock holds the pid, host, start time and command of its run. A second run stops with a message naming
them and the fix. A lock left by a run that was killed is removed by the next run when the holder ran on the
same host and its process is gone (or the pid now belongs to another process); on another host that cannot
be checked from here, so the message says how to check and remove it.
"""

import atexit
import datetime as dt
import json
import logging
import os
import socket
import sys
from pathlib import Path

from memgen.errors import fail

LOCK_NAME = ".memgen-run.lock"
log = logging.getLogger(__name__)


def lock_path(results_dir="results") -> Path:
    return Path(results_dir) / LOCK_NAME


def _proc_start(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot (Linux), so a reused pid is not mistaken for the
    holder; None where /proc is not there."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 (starttime), counted after the command name


def _this_run(command: list[str]) -> dict:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "proc_start": _proc_start(os.getpid()),
        "cwd": os.getcwd(),
        "command": " ".join(command),
    }


def holder(path) -> dict | None:
    """The run recorded in the lock file, or None when there is none. An unreadable lock reads as
    {"unreadable": reason}: it was made by something else, and only a person can say whether it is in use."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except OSError as e:
        return {"unreadable": str(e)}
    try:
        info = json.loads(text)
        return (
            info if isinstance(info, dict) and "pid" in info and "host" in info else {"unreadable": text[:80]}
        )
    except json.JSONDecodeError:
        return {"unreadable": text[:80]}


def alive(info: dict) -> bool | None:
    """True/False when the holder ran on this host (its process is there or not), None when it cannot be
    known from here (another host)."""
    if "unreadable" in info or info.get("host") != socket.gethostname():
        return None
    pid = int(info["pid"])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    recorded, now = info.get("proc_start"), _proc_start(pid)
    return not (recorded and now and recorded != now)  # same pid, another process: the holder is gone


def describe(info: dict) -> str:
    if "unreadable" in info:
        return f"an unreadable lock ({info['unreadable']!r})"
    return f"pid {info['pid']} on {info['host']}, started {info['started']} ({info.get('command') or '?'})"


def acquire(results_dir="results", command: list[str] | None = None) -> Path:
    """Take the lock of `results_dir` for this process, or raise a MemgenError naming its holder and the fix.
    The lock is given back at exit (release, also registered with atexit)."""
    path = lock_path(results_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = _this_run(command if command is not None else sys.argv)
    tmp = path.with_name(f"{LOCK_NAME}.{mine['host']}.{mine['pid']}")
    tmp.write_text(json.dumps(mine, indent=1) + "\n")
    try:
        for _ in range(3):
            try:
                os.link(tmp, path)  # atomic, also on NFS: the lock appears whole or not at all
                atexit.register(release, path)
                return path
            except FileExistsError:
                info = holder(path)
                if info is None:  # given back meanwhile
                    continue
                if alive(info) is False:
                    log.warning("memgen: removing the lock of a run that is gone: %s", describe(info))
                    path.unlink(missing_ok=True)
                    continue
                where = f"on {info['host']}: ps -p {info['pid']}" if "unreadable" not in info else "ps"
                raise fail(
                    f"{path.parent}/ is in use by another Snakemake run: {describe(info)}",
                    f"wait for it to finish (a dry run, snakemake -n, is fine meanwhile); if it is no longer "
                    f"running (check {where}), remove its lock: rm {path}",
                ) from None
        raise fail(f"could not take {path}: other runs kept taking it", f"try again, or rm {path}")
    finally:
        tmp.unlink(missing_ok=True)


def release(path) -> None:
    """Give the lock back if this process holds it (never another run's)."""
    info = holder(path)
    if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
        Path(path).unlink(missing_ok=True)


def note_if_held(results_dir="results") -> str | None:
    """A line for the start of any Snakemake invocation (dry runs too) while another run holds the lock."""
    info = holder(lock_path(results_dir))
    if info is None or alive(info) is False or info.get("pid") == os.getpid():
        return None
    held = f"memgen: note: {lock_path(results_dir)} is held by {describe(info)}"
    return f"{held}; a run started now stops, a dry run is fine"
