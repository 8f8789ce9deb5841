import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from memgen.cli import main
from memgen.errors import MemgenError
from memgen.provenance import sha256, write_records
from memgen.trace import exit_code, format_trace, trace

RAW = "data/raw.csv"
CANARIES = "results/digits/data/canaries.npz"
MASKS = "results/digits/mlp/rate0.7/masks.npz"
SCORES = "results/digits/mlp/rate0.7/scores.csv"
TABLE = "results/table1.csv"


def _job(rule, inputs, outputs, content=b"x", params=None):
    for o in outputs:
        Path(o).parent.mkdir(parents=True, exist_ok=True)
        Path(o).write_bytes(content)
    write_records(rule, inputs, outputs, params or {}, {"rate": 0.7}, {"seed": 1}, "cpu", 0.0, 1.0)


@pytest.fixture
def chain(tmp_path, monkeypatch):
    """raw data -> canaries -> masks -> scores -> table1, in a workflow directory tmp_path."""
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    Path(RAW).write_bytes(b"raw")
    _job("canaries", [RAW], [CANARIES], b"canaries")
    _job("masks", [CANARIES], [MASKS], b"masks", params={"block_size": 16})
    _job("scores", [MASKS, CANARIES], [SCORES], b"scores")
    _job("table1", [SCORES], [TABLE], b"table")
    return tmp_path


def test_trace_reaches_the_raw_data(chain):
    nodes = trace(TABLE)
    assert [(n["path"], n["depth"], n["status"]) for n in nodes] == [
        (TABLE, 0, "ok"),
        (SCORES, 1, "ok"),
        (MASKS, 2, "ok"),
        (CANARIES, 3, "ok"),
        (RAW, 4, "no record"),
    ]
    by = {n["path"]: n for n in nodes}
    assert [u["path"] for u in by[CANARIES]["used_by"]] == [MASKS, SCORES]  # reached twice, listed once
    assert by[MASKS]["rule"] == "masks" and by[MASKS]["params"] == {"block_size": 16}
    assert by[SCORES]["inputs"] == [MASKS, CANARIES]
    assert by[TABLE]["recorded_sha256"] == by[TABLE]["current_sha256"]
    assert by[RAW]["recorded_sha256"] is None and by[RAW]["bytes"] == 3
    assert exit_code(nodes) == 0
    text = format_trace(nodes)
    assert "5 files traced" in text and "All recorded files match their records." in text
    assert "CHANGED" not in text and "MISSING" not in text


def test_one_appended_byte_flags_exactly_that_file(chain, capsys):
    with open(MASKS, "ab") as f:
        f.write(b"!")
    nodes = trace(TABLE)
    assert [n["path"] for n in nodes if n["status"] != "ok"] == [MASKS, RAW]
    assert [n["path"] for n in nodes if n["status"] == "changed"] == [MASKS]
    assert exit_code(nodes) == 1
    assert main(["trace", TABLE]) == 1
    out = capsys.readouterr().out
    assert "1 file(s) CHANGED or MISSING" in out
    assert f"CHANGED: {MASKS}" in out
    assert "CHANGED: " + SCORES not in out


def test_upstream_rerun_without_downstream_is_flagged(chain):
    # masks rebuilt (its own record now matches) but scores was made from the old masks.
    old = sha256(MASKS)
    _job("masks", [CANARIES], [MASKS], b"new masks")
    by = {n["path"]: n for n in trace(TABLE)}
    assert by[MASKS]["status"] == "changed"
    assert by[MASKS]["recorded_sha256"] == by[MASKS]["current_sha256"] == sha256(MASKS) != old
    assert by[MASKS]["reasons"] == [f"differs from the version {SCORES} was made from (sha256 {old[:12]})"]
    assert by[SCORES]["status"] == "ok" and by[TABLE]["status"] == "ok"


def test_edited_raw_input_without_record_is_changed(chain):
    Path(RAW).write_bytes(b"raw, edited")
    by = {n["path"]: n for n in trace(TABLE)}
    assert by[RAW]["status"] == "changed"
    assert by[RAW]["reasons"][0].startswith(f"differs from the version {CANARIES} was made from")


def test_deleted_input_is_missing(chain, capsys):
    Path(CANARIES).unlink()
    nodes = trace(TABLE)
    assert [n["path"] for n in nodes if n["status"] == "missing"] == [CANARIES]
    assert main(["trace", TABLE]) == 1
    assert f"MISSING: {CANARIES}" in capsys.readouterr().out


def test_json_output_is_valid(chain, capsys):
    assert main(["trace", TABLE, "--json"]) == 0
    nodes = json.loads(capsys.readouterr().out)
    assert [n["path"] for n in nodes] == [TABLE, SCORES, MASKS, CANARIES, RAW]
    assert nodes[2]["config"] == {"rate": 0.7} and nodes[2]["seeds"] == {"seed": 1}
    assert nodes[0]["packages"]["python"] == platform.python_version()


def test_root_option_from_another_directory(chain, monkeypatch, capsys):
    elsewhere = chain / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["trace", TABLE, "--root", str(chain)]) == 0  # relative PATH starts at --root
    assert f"    {SCORES}  [ok]" in capsys.readouterr().out
    assert main(["trace", str(chain / TABLE), "--root", str(chain)]) == 0
    assert f"    {SCORES}  [ok]" in capsys.readouterr().out
    assert main(["trace", TABLE]) == 2  # not in the current directory: an input problem
    assert "error: results/table1.csv does not exist" in capsys.readouterr().err


def test_directory_artifacts_are_traced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("members/0").mkdir(parents=True)
    Path("members/0/logits.npz").write_bytes(b"l0")
    write_records("train", [], ["members"], {}, {}, {}, "cpu", 0.0, 1.0)
    _job("scores", ["members"], ["scores.csv"])
    nodes = trace("scores.csv")
    assert [(n["path"], n["status"]) for n in nodes] == [("scores.csv", "ok"), ("members", "ok")]
    Path("members/1").mkdir()
    Path("members/1/logits.npz").write_bytes(b"l1")
    assert [n["status"] for n in trace("scores.csv")] == ["ok", "changed"]


def test_file_without_record_is_one_node(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("plain.csv").write_text("a\n")
    nodes = trace("plain.csv")
    assert [(n["path"], n["status"]) for n in nodes] == [("plain.csv", "no record")]
    assert exit_code(nodes) == 0


def test_nonexistent_path_is_a_memgen_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MemgenError, match=r"nope\.csv does not exist and has no provenance record.*Fix:"):
        trace("nope.csv")


def test_large_fan_in_is_folded_but_changes_are_shown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logits = [f"members/{k}/logits.npz" for k in range(10)]
    for k, p in enumerate(logits):
        _job("train", [], [p], bytes([k]))
    _job("scores", logits, ["scores.csv"])
    with open(logits[7], "ab") as f:
        f.write(b"!")
    text = format_trace(trace("scores.csv"), max_children=6)
    shown = [p for p in logits if f"{p}  [" in text]
    assert shown == [logits[0], logits[1], logits[2], logits[7]]
    assert "… 6 more inputs from rule train (6 ok)" in text
    assert f"CHANGED: {logits[7]}" in text


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "memgen", *args], cwd=cwd, capture_output=True, text=True)


def test_cli_errors_are_one_line_without_traceback(chain):
    r = _cli("trace", "nope.csv", cwd=chain)
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("memgen: error: nope.csv does not exist")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    Path(chain / (SCORES + ".prov.json")).write_text("{")
    r = _cli("trace", TABLE, cwd=chain)
    assert r.returncode == 2
    assert r.stderr.startswith(f"memgen: error: provenance record {SCORES}.prov.json cannot be read")
    assert r.stderr.endswith(f"Fix: rerun the rule that makes {SCORES}: snakemake --forcerun {SCORES}\n")
    assert "Traceback" not in r.stderr


def test_cli_exit_codes_and_help(chain):
    assert _cli("trace", TABLE, cwd=chain).returncode == 0
    with open(chain / MASKS, "ab") as f:
        f.write(b"!")
    r = _cli("trace", TABLE, cwd=chain)
    assert r.returncode == 1 and f"CHANGED: {MASKS}" in r.stdout
    h = _cli("trace", "--help", cwd=chain)
    assert h.returncode == 0 and "memgen trace results/table1.csv" in h.stdout and "--json" in h.stdout


def test_environment_difference_is_reported_not_failed(chain, capsys):
    assert main(["trace", TABLE]) == 0
    assert "Environment: this Python has the package versions every record lists" in capsys.readouterr().out
    # the masks were made under another torch (as if installed a month earlier without the lock)
    side = Path(MASKS + ".prov.json")
    record = json.loads(side.read_text())
    here = record["packages"]["torch"]
    record["packages"]["torch"] = "2.0.0"
    side.write_text(json.dumps(record))
    assert main(["trace", TABLE]) == 0  # the files are what they were: a difference, not a failure
    out = capsys.readouterr().out
    assert "this Python differs from the one that made 1 of 4 files:" in out
    assert f"  torch 2.0.0 when made ({MASKS}), {here} here" in out
    assert "pip install -r requirements.lock" in out
    assert main(["trace", TABLE, "--json"]) == 0
    nodes = {n["path"]: n for n in json.loads(capsys.readouterr().out)}
    assert nodes[MASKS]["environment_diff"] == {"torch": {"recorded": "2.0.0", "here": here}}
    assert nodes[SCORES]["environment_diff"] == {}
