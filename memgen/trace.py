"""Follow provenance records from an artifact back to its roots and flag files that changed since.

A file is "changed" when its bytes differ from what its own record says its rule wrote, or from what a
rule that consumed it recorded: either way the artifacts downstream of it were not made from the file
now on disk. "missing" is a recorded file that is gone; "no record" a file without a sidecar (a raw
input such as a duplicate list, or an artifact made before records existed).
"""

import os
from pathlib import Path

from memgen.errors import fail
from memgen.provenance import nbytes, package_versions, read_record, record_path, sha256

STATUSES = ("ok", "changed", "missing", "no record")
BAD = ("changed", "missing")


def _key(path, root: Path) -> str:
    # Records store paths relative to the workflow's working directory; the user may type a path
    # relative to wherever they stand, so both are turned into the record's spelling.
    p = Path(os.path.abspath(path))
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return p.as_posix()


def _fs(key: str, root: Path) -> Path:
    p = Path(key)
    return p if p.is_absolute() else root / p


def trace(path, root=".", environment: dict | None = None) -> list[dict]:
    """Nodes of the provenance graph of `path`, depth-first from it, each file once.

    `root` is the workflow's working directory, where records' relative paths and a relative `path`
    start. Each node:
    path, depth, status ("ok" | "changed" | "missing" | "no record"), reasons, rule, wildcards, params,
    config, seeds, device, started, ended, duration_s, code, packages, host, recorded_sha256,
    current_sha256, bytes, inputs (paths), used_by ([{path, sha256}] of the rules that read it),
    environment_diff ({package: {"recorded", "here"}}: recorded versions that differ from `environment`,
    the running Python's package_versions() unless given).
    """
    root = Path(root)  # joined as given, so messages show the paths the user typed
    start = _key(root / path, Path(os.path.abspath(root)))  # a relative PATH starts at root, like records
    if not _fs(start, root).exists() and read_record(_fs(start, root)) is None:
        raise fail(
            f"{root / path} does not exist and has no provenance record ({record_path(root / path)})",
            f"check the path (relative paths start at the workflow directory {root}), or make it: "
            f"snakemake {path}",
        )
    nodes: dict[str, dict] = {}
    _visit(start, 0, None, None, root, nodes)
    out = list(nodes.values())  # dicts keep insertion order: depth-first preorder
    here = package_versions() if environment is None else environment
    for node in out:
        node["status"], node["reasons"] = _status(node)
        recorded = node["packages"] or {}
        node["environment_diff"] = {
            k: {"recorded": v, "here": here.get(k)} for k, v in recorded.items() if here.get(k) != v
        }
    return out


def _visit(key: str, depth: int, consumer: str | None, used_sha: str | None, root: Path, nodes: dict):
    if key in nodes:
        nodes[key]["used_by"].append({"path": consumer, "sha256": used_sha})
        return
    fs = _fs(key, root)
    record = read_record(fs)
    exists = fs.exists()
    own = None
    if record is not None:
        own = next((o for o in record["outputs"] if o["path"].rstrip("/") == key.rstrip("/")), None)
    r = record or {}
    nodes[key] = {
        "path": key,
        "depth": depth,
        "status": None,
        "reasons": [],
        "has_record": record is not None,
        "listed_as_output": own is not None,
        "rule": r.get("rule"),
        "wildcards": r.get("wildcards"),
        "params": r.get("params"),
        "config": r.get("config"),
        "seeds": r.get("seeds"),
        "device": r.get("device"),
        "started": r.get("started"),
        "ended": r.get("ended"),
        "duration_s": r.get("duration_s"),
        "code": r.get("code"),
        "packages": r.get("packages"),
        "host": r.get("host"),
        "log": r.get("log"),
        "recorded_sha256": own["sha256"] if own else None,
        "current_sha256": sha256(fs) if exists else None,
        "bytes": nbytes(fs) if exists else None,
        "inputs": [i["path"] for i in r.get("inputs", [])],
        "used_by": [] if consumer is None else [{"path": consumer, "sha256": used_sha}],
    }
    for inp in r.get("inputs", []):
        _visit(inp["path"], depth + 1, key, inp["sha256"], root, nodes)


def _status(node: dict) -> tuple[str, list[str]]:
    current = node["current_sha256"]
    if current is None:
        return "missing", ["recorded file is gone"]
    reasons = []
    if node["has_record"] and not node["listed_as_output"]:
        reasons.append("its sidecar does not list it as an output (record of another file copied here?)")
    if node["recorded_sha256"] is not None and node["recorded_sha256"] != current:
        reasons.append(f"differs from what rule {node['rule']} wrote (sha256 {node['recorded_sha256'][:12]})")
    for use in node["used_by"]:
        if use["sha256"] != current:
            used = use["sha256"][:12]
            reasons.append(f"differs from the version {use['path']} was made from (sha256 {used})")
    if reasons:
        return "changed", reasons
    return ("ok" if node["has_record"] else "no record"), []


def _flat(d, prefix="") -> list[str]:
    out = []
    for k, v in (d or {}).items():
        if isinstance(v, dict) and v:
            out.extend(_flat(v, f"{prefix}{k}."))
        else:
            out.append(f"{prefix}{k}={v}")
    return out


def _summary(d, width=100) -> str:
    items = _flat(d)
    text, shown = "", 0
    for item in items:
        piece = (", " if text else "") + item
        if len(text) + len(piece) > width and shown:
            return f"{text}, … (+{len(items) - shown} more; --json shows all)"
        text, shown = text + piece, shown + 1
    return text


def _code(code) -> str:
    if not code:
        return "code ?"
    commit = code.get("commit", "unknown")
    dirty = code.get("dirty")
    return f"code {commit[:10]}" + ("+dirty" if dirty is True else "" if dirty is False else "?")


def _numerics_text(rec: dict | None) -> str | None:
    """What decided a job's last bits (memgen/numerics.py), for a job that ran torch."""
    if not rec or "torch_cpu_capability" not in rec:
        return None
    env = ", ".join(f"{k}={v}" for k, v in rec.get("env", {}).items() if v)
    kernels = f"torch kernels {rec['torch_cpu_capability']}"
    return f"{rec['mode']}, {kernels}, {env or 'no pin'}; {rec.get('cpu_model')}"


def _node_lines(node: dict, pad: str, root_pkgs: dict | None) -> list[str]:
    """One file of the tree: its path, status and rule, then its record, checksum and reasons, indented."""
    mark = node["status"].upper() if node["status"] in BAD else node["status"]
    head = f"{pad}{node['path']}  [{mark}]"
    if node["rule"]:
        wc = ", ".join(f"{k}={v}" for k, v in (node["wildcards"] or {}).items())
        head += f"  rule {node['rule']}" + (f" ({wc})" if wc else "")
    lines = [head]
    sub = pad + "  | "
    if node["has_record"]:
        lines.append(
            f"{sub}{_code(node['code'])}; {node['started']} ({node['duration_s']} s)"
            f" on {node['device']} @ {(node['host'] or {}).get('hostname')}"
        )
        path = _numerics_text((node["host"] or {}).get("numerics"))
        if path:
            lines.append(f"{sub}numerics: {path}")
        if node["packages"] and node["packages"] != root_pkgs:
            diff = {k: v for k, v in node["packages"].items() if (root_pkgs or {}).get(k) != v}
            lines.append(f"{sub}packages differ from the traced file's: {_summary(diff)}")
        for label in ("params", "config", "seeds"):
            if node[label]:
                lines.append(f"{sub}{label}: {_summary(node[label])}")
    if node["current_sha256"]:
        lines.append(f"{sub}sha256 {node['current_sha256'][:16]}  {node['bytes']} bytes")
    for reason in node["reasons"]:
        lines.append(f"{sub}!! {reason}")
    return lines


def _fold(children: list[dict], max_children: int) -> tuple[list[dict], list[dict]]:
    """(shown, rest) of one rule's inputs: a group over max_children shows its first max_children // 2 and
    every file not ok; rest, the ok files it hides."""
    shown = children if len(children) <= max_children else children[: max_children // 2]
    hidden = [c for c in children if c not in shown]
    return shown + [c for c in hidden if c["status"] in BAD], [c for c in hidden if c["status"] not in BAD]


def _tree(nodes: list[dict], max_children: int) -> list[str]:
    """The traced file and its inputs depth first, indented by depth; a file reached twice is shown once."""
    by_path = {n["path"]: n for n in nodes}
    root_pkgs = nodes[0].get("packages")
    lines: list[str] = []
    printed: set[str] = set()

    def emit(node, depth):
        pad = "    " * depth
        lines.extend(_node_lines(node, pad, root_pkgs))
        printed.add(node["path"])
        # Group inputs by the rule that made them, so a fan-in of member files folds into one line.
        groups: dict[str, list[dict]] = {}
        for p in node["inputs"]:
            child = by_path[p]
            groups.setdefault(child["rule"] or "", []).append(child)
        for rule, children in groups.items():
            shown, rest = _fold(children, max_children)
            for child in shown:
                if child["path"] in printed:
                    lines.append(f"{pad}    {child['path']}  [{child['status']}] (shown above)")
                else:
                    emit(child, depth + 1)
            if rest:
                tally = {s: sum(c["status"] == s for c in rest) for s in STATUSES}
                counts = ", ".join(f"{n} {s}" for s, n in tally.items() if n)
                lines.append(f"{pad}    … {len(rest)} more inputs from rule {rule or '?'} ({counts})")

    emit(nodes[0], 0)
    return lines


def _closing_lines(nodes: list[dict]) -> list[str]:
    """After the tree: the count of files and code versions, files without a record, this Python's
    packages, and the loud list of changed or missing files."""
    bad = [n for n in nodes if n["status"] in BAD]
    norec = [n for n in nodes if n["status"] == "no record"]
    commits = sorted({_code(n["code"]) for n in nodes if n["has_record"]})
    lines = ["", f"{len(nodes)} files traced; {len(commits)} code version(s): {', '.join(commits) or '-'}"]
    if norec:
        lines.append(f"{len(norec)} file(s) without a provenance record (raw inputs or older runs):")
        lines.extend(f"  {n['path']}" for n in norec[:20])
        if len(norec) > 20:
            lines.append(f"  … and {len(norec) - 20} more")
    lines.extend(_environment_lines(nodes))
    if bad:
        lines.append(f"!!! {len(bad)} file(s) CHANGED or MISSING since the traced file was made:")
        for n in bad:
            lines.append(f"!!!   {n['status'].upper()}: {n['path']} — {'; '.join(n['reasons'])}")
        lines.append("!!! Results downstream of these are stale: rerun them (snakemake -n shows what runs).")
    else:
        lines.append("All recorded files match their records.")
    return lines


def format_trace(nodes: list[dict], max_children: int = 6) -> str:
    """A tree, indented by depth from the traced file, then a loud list of changed/missing files.

    A rule with more than `max_children` inputs of one rule (e.g. 1,000 member logits) shows a few and
    counts the rest; files that are not ok are always shown, in the tree and in the list at the end.
    """
    if not nodes:
        return "(nothing to trace)"
    return "\n".join(_tree(nodes, max_children) + _closing_lines(nodes))


def _environment_lines(nodes: list[dict]) -> list[str]:
    """Whether this Python's packages are the ones that made the traced files. A difference is reported,
    not an error (exit status unchanged): the files are what they were; rerunning here may not give them."""
    recorded = [n for n in nodes if n["has_record"] and n.get("packages")]
    if not recorded:
        return []
    differ = [n for n in recorded if n.get("environment_diff")]
    if not differ:
        names = ", ".join(sorted(recorded[0]["packages"]))
        return [f"Environment: this Python has the package versions every record lists ({names})."]
    by_change: dict[tuple, list[str]] = {}
    for n in differ:
        for pkg, d in n["environment_diff"].items():
            by_change.setdefault((pkg, d["recorded"], d["here"]), []).append(n["path"])
    n = f"{len(differ)} of {len(recorded)}"
    lines = [f"Environment: this Python differs from the one that made {n} files:"]
    for (pkg, was, now), paths in sorted(by_change.items(), key=lambda kv: str(kv[0])):
        more = f" and {len(paths) - 1} more" if len(paths) > 1 else ""
        lines.append(f"  {pkg} {was} when made ({paths[0]}{more}), {now or 'not installed'} here")
    lines.append(
        "  Rerunning here may not reproduce these files. To rebuild their environment: check out the "
        "recorded commit, then `pip install -r requirements.lock` (docs/install.md)."
    )
    return lines


def exit_code(nodes: list[dict]) -> int:
    """0 when every traced file matches its records, 1 when any is changed or missing."""
    return 1 if any(n["status"] in BAD for n in nodes) else 0
