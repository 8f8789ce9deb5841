"""`memgen verify`: every artifact of a results folder against its provenance record, and the repair.

The unit tests build records by hand (memgen.provenance.write_records) in a temporary workflow directory and
stand in for Snakemake where the command would ask it; the workflow test damages a copy of the finished tiny
study and repairs it with the real workflow.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memgen import verify as v
from memgen.cli import main
from memgen.provenance import record_path, sha256, write_records

RAW = "data/cifair/digits.csv"
INDEX = "results/digits/data/index.npz"
MEMBERS = [f"results/digits/mlp/rate0.5/members/0/{s}/outputs.npz" for s in range(2)]
SCORES = "results/digits/mlp/rate0.5/scores.csv"
TABLE = "results/table3.csv"
FIGURE = "results/figures/fig2_fpr.png"


def _job(rule, inputs, outputs, content=b"x", wildcards=None):
    for o in outputs:
        Path(o).parent.mkdir(parents=True, exist_ok=True)
        Path(o).write_bytes(content + o.encode())
    write_records(rule, inputs, outputs, {}, {}, {}, "cpu", 0.0, 1.0, wildcards=wildcards)


@pytest.fixture
def chain(tmp_path, monkeypatch):
    """raw list -> index -> a shard of two members -> scores -> table3 and a figure, in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MEMGEN_HASH_CACHE", "")  # every hash read from the file, as verify reads them
    Path(RAW).parent.mkdir(parents=True)
    Path(RAW).write_text("0,1\n")
    _job("dataset_index", [RAW], [INDEX])
    shard = {"dataset": "digits", "arch": "mlp", "ens": "rate0.5", "block": "0"}
    _job("members_0", [INDEX], MEMBERS, wildcards=shard)
    _job("scores", [INDEX, *MEMBERS], [SCORES])
    _job("table3", [SCORES], [TABLE])
    _job("fig_fpr", [SCORES], [FIGURE])
    return tmp_path


def _kinds(problems):
    return [(p["kind"], p["path"], p["rule"]) for p in problems]


def test_an_intact_folder_has_no_problem(chain):
    problems, checked = v.check_records(".", ["results"])
    assert problems == [] and checked == 6


def test_truncated_member_with_its_mtime_kept_is_changed_and_names_its_shard_job(chain):
    st = os.stat(MEMBERS[1])
    with open(MEMBERS[1], "r+b") as f:
        f.truncate(3)
    os.utime(MEMBERS[1], ns=(st.st_atime_ns, st.st_mtime_ns))  # what Snakemake's mtime check cannot see
    problems, _ = v.check_records(".", ["results"])
    assert _kinds(problems) == [("changed", MEMBERS[1], "members_0")]  # scores was made from the recorded one
    line = v.format_line(problems[0])
    made = "[rule members_0 (arch=mlp, block=0, dataset=digits, ens=rate0.5)]"
    assert line.startswith(
        f"CHANGED    {MEMBERS[1]}  {made}  sha256 {sha256(MEMBERS[1])[:12]} is not its record's"
    )
    assert line.endswith(f"(3 bytes, recorded {len(b'x' + MEMBERS[1].encode())})")


def test_hand_edited_table_and_deleted_figure(chain):
    with open(TABLE, "a") as f:
        f.write("edited\n")
    Path(FIGURE).unlink()
    problems, _ = v.check_records(".", ["results"])
    assert _kinds(problems) == [("missing", FIGURE, "fig_fpr"), ("changed", TABLE, "table3")]
    assert problems[0]["reason"] == "its record is there, the file is not"


def test_a_remade_input_makes_its_consumers_stale(chain):
    old = sha256(SCORES)
    _job("scores", [INDEX, *MEMBERS], [SCORES], content=b"other")  # rerun alone: table3 and figure not
    problems, _ = v.check_records(".", ["results"])
    assert _kinds(problems) == [("stale", FIGURE, "fig_fpr"), ("stale", TABLE, "table3")]
    assert problems[1]["reason"] == (
        f"made from {SCORES} sha256 {old[:12]}, remade since (its record: {sha256(SCORES)[:12]})"
    )


def test_a_raw_input_without_record_edited_or_gone(chain):
    Path(RAW).write_text("0,2\n")
    problems, _ = v.check_records(".", ["results"])
    assert _kinds(problems) == [("stale", INDEX, "dataset_index")]
    assert problems[0]["reason"].endswith("(no record)")
    Path(RAW).unlink()
    problems, _ = v.check_records(".", ["results"])
    assert problems[0]["reason"] == f"its input {RAW} (no record) is gone"


def test_unreadable_and_foreign_records(chain):
    record_path(TABLE).write_text("{not json")
    shutil.copy(record_path(SCORES), record_path(FIGURE))  # a record that describes another file
    problems, _ = v.check_records(".", ["results"])
    assert _kinds(problems) == [("changed", FIGURE, "scores"), ("bad record", TABLE, None)]
    assert "does not list it" in problems[0]["reason"]
    assert "cannot be read" in problems[1]["reason"]


def test_hidden_folders_are_skipped(chain):
    cache = Path("results/.memgen-hash-cache/ab")
    cache.mkdir(parents=True)
    shutil.copy(record_path(TABLE), cache / "x.prov.json")  # would be MISSING if it were read
    assert v.check_records(".", ["results"]) == ([], 6)


SUMMARY = [
    {"path": TABLE, "rule": "table3", "status": "ok", "plan": "no update"},
    {"path": FIGURE, "rule": "fig_fpr", "status": "ok", "plan": "no update"},
    {"path": "results/table1.csv", "rule": "table1", "status": "missing", "plan": "update pending"},
    {"path": "results/summary.rst", "rule": "summary", "status": "ok", "plan": "no update"},
    {"path": "results/x.csv", "rule": "x", "status": "updated input files", "plan": "update pending"},
]


def test_summary_adds_files_never_built_or_without_record(chain):
    Path("results/summary.rst").write_text("made by hand")
    Path("results/x.csv").write_text("made by hand")
    found, other = v.from_summary(SUMMARY, [], ".")
    assert _kinds(found) == [
        ("not built", "results/table1.csv", "table1"),
        ("no record", "results/summary.rst", "summary"),
        ("no record", "results/x.csv", "x"),
    ]
    assert other == []
    found, other = v.from_summary(SUMMARY[:3] + SUMMARY[4:], [], ".")
    assert [r["path"] for r in other] == []  # x.csv is listed as NO RECORD, not again as pending
    _job("x", [TABLE], ["results/x.csv"])
    found, other = v.from_summary(SUMMARY, [], ".")
    assert [r["path"] for r in other] == ["results/x.csv"]  # recorded and intact: Snakemake's own business


def test_repair_forces_every_listed_file_but_the_unbuilt():
    problems = [
        {"path": MEMBERS[1], "kind": "changed"},
        {"path": TABLE, "kind": "changed"},
        {"path": "results/table1.csv", "kind": "not built"},
    ]
    cmd = v.repair_command(["snakemake", "--cores", "2"], problems)
    files = [MEMBERS[1], TABLE, "results/table1.csv"]
    assert cmd == ["snakemake", "--cores", "2", "--rerun-incomplete", "all", *files, "--forcerun", *files[:2]]


DRY_RUN = """Building DAG of jobs...
Job stats:
job            count
-----------  -------
members_0          1
scores             1
all                1
total              3

Job stats:
job            count
total              3

Reasons:
    (check individual jobs above for details)
    forced:
        members_0
    input files updated by another job:
        all, scores
This was a dry-run (flag -n). The order of jobs does not reflect the order of execution.
"""


def test_job_stats_of_a_dry_run():
    assert v.job_stats(DRY_RUN) == [
        "Job stats:",
        "job            count",
        "-----------  -------",
        "members_0          1",
        "scores             1",
        "all                1",
        "total              3",
        "Reasons:",
        "    forced:",
        "        members_0",
        "    input files updated by another job:",
        "        all, scores",
    ]
    assert v.job_stats("Nothing to be done.") == ["(Snakemake plans no job)"]


def test_cli_records_only_exit_status(chain, capsys):
    assert main(["verify", "--records-only"]) == 0
    assert "all 6 recorded files under results/ match their records" in capsys.readouterr().out
    Path(FIGURE).unlink()
    assert main(["verify", "--records-only"]) == 1
    out = capsys.readouterr().out
    assert f"MISSING    {FIGURE}  [rule fig_fpr]" in out and "1 file(s) differ" in out
    assert main(["verify", "--records-only", "--results", "elsewhere"]) == 2
    assert "elsewhere is not a folder" in capsys.readouterr().err


def test_snakemake_command_of_a_checkout_and_of_an_audit_folder(tmp_path):
    Path(tmp_path / "Snakefile").write_text("")
    cmd = v.snakemake_base(tmp_path, cores=3, extra=["--profile", "p"])
    assert cmd[1:] == ["--snakefile", str(tmp_path / "Snakefile"), "--directory", str(tmp_path)] + [
        "--cores",
        "3",
        "--profile",
        "p",
    ]
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "config.yaml").write_text("")
    cmd = v.snakemake_base(audit)
    assert cmd[cmd.index("--snakefile") + 1] == str(Path(v.__file__).resolve().parents[1] / "Snakefile")
    assert cmd[cmd.index("--configfile") + 1] == str(audit / "config.yaml")


def test_repair_plans_runs_and_verifies_again(chain, monkeypatch, capsys):
    """The repair's order with Snakemake stood in for: list, dry run, run the forced jobs, verify again."""
    with open(TABLE, "a") as f:
        f.write("edited\n")
    calls = []
    monkeypatch.setattr(v, "snakemake_base", lambda *a, **k: ["snakemake"])
    monkeypatch.setattr(v, "expected_files", lambda base: [])
    monkeypatch.setattr(v, "_snakemake", lambda cmd, what: calls.append(("plan", cmd)) or DRY_RUN)

    def run(cmd):  # the forced table3 job: the table rewritten with its record
        calls.append(("run", cmd))
        _job("table3", [SCORES], [TABLE])
        return 0

    monkeypatch.setattr(v, "_execute", run)
    assert v.verify(".", dry_run=True) == 1 and [c[0] for c in calls] == ["plan"]
    assert calls[0][1][-1] == "--dry-run" and "--forcerun" in calls[0][1]
    capsys.readouterr()
    assert v.verify(".", repair=True) == 0
    out = capsys.readouterr().out
    assert [c[0] for c in calls] == ["plan", "plan", "run"]
    assert calls[-1][1] == ["snakemake", "--rerun-incomplete", "all", TABLE, "--forcerun", TABLE]
    assert (
        out.index(f"CHANGED    {TABLE}") < out.index("members_0          1") < out.index("after the repair")
    )
    assert out.rstrip().endswith("all 6 recorded files under results/ match their records")


# --- the real workflow: a copy of the finished tiny study, damaged three ways, then repaired ---------------

MEMBER = "results/digits/mlp/rate0.5/members/0/3/outputs.npz"  # made by rule members_0 (slots 0-7)
EDITED = "results/table3.csv"
GONE = "results/figures/fig2_fpr.png"  # its record stays: MISSING
UNBUILT = "results/figures/fig9_stability.pdf"  # deleted with its record: NOT BUILT


def _memgen(wd, *args):
    proc = subprocess.run(
        [sys.executable, "-m", "memgen", "verify", *args], cwd=wd, capture_output=True, text=True
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.workflow
def test_verify_lists_and_repairs_a_damaged_study(study_copy):
    wd = study_copy
    kept = {p: p.read_bytes() for p in sorted(wd.glob("results/**/*.csv"))}
    assert len([p for p in kept if p.name == "scores.csv"]) == 4
    st = os.stat(wd / MEMBER)
    with open(wd / MEMBER, "r+b") as f:
        f.truncate(st.st_size // 2)
    os.utime(wd / MEMBER, ns=(st.st_atime_ns, st.st_mtime_ns))
    with open(wd / EDITED, "a") as f:
        f.write("edited by hand\n")
    (wd / GONE).unlink()
    (wd / UNBUILT).unlink()
    record_path(wd / UNBUILT).unlink()

    rc, out = _memgen(wd)
    print(out)
    assert rc == 1
    lines = [ln for ln in out.splitlines() if ln.split(" ")[0] in ("CHANGED", "MISSING", "NOT")]
    assert len(lines) == 4, out
    assert f"CHANGED    {MEMBER}  [rule members_0 (" in out
    assert f"CHANGED    {EDITED}  [rule table3]" in out
    assert f"MISSING    {GONE}  [rule fig_fpr" in out
    assert f"NOT BUILT  {UNBUILT}  [rule fig_stability]" in out

    rc, out = _memgen(wd, "--repair")
    print(out)
    assert rc == 0, out
    assert "members_0" in out.split("the jobs a repair reruns")[1]
    rc, out = _memgen(wd)
    assert rc == 0 and "match their records" in out, out
    for path, before in kept.items():
        assert path.read_bytes() == before, f"{path.relative_to(wd)} differs after the repair"
    assert (wd / GONE).exists() and (wd / UNBUILT).exists()


@pytest.fixture
def study_copy(study, tmp_path):
    """A copy of the finished tiny study that a test may damage (mtimes kept: Snakemake sees it finished)."""
    dest = tmp_path / "study"
    shutil.copytree(study, dest, symlinks=True)
    return dest
