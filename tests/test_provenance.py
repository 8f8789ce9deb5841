import datetime as dt
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import memgen
import memgen.provenance as provenance
from memgen.errors import MemgenError
from memgen.provenance import (
    code_version,
    package_versions,
    read_record,
    record_path,
    sha256,
    write_records,
)

ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 example
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
T0 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp()


def test_sha256_known_vectors(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    (tmp_path / "empty").write_bytes(b"")
    assert sha256(tmp_path / "abc") == ABC
    assert sha256(tmp_path / "empty") == EMPTY


def test_sha256_streams_files_larger_than_a_chunk(tmp_path):
    data = bytes(range(256)) * (3 * 4096 + 7)  # ~3 MiB, not a multiple of the 1 MiB chunk
    (tmp_path / "big").write_bytes(data)
    assert sha256(tmp_path / "big") == hashlib.sha256(data).hexdigest()


def test_sha256_of_a_directory_covers_names_and_contents(tmp_path):
    d = tmp_path / "members"
    (d / "0").mkdir(parents=True)
    (d / "0" / "abc").write_bytes(b"abc")
    (d / "e").write_bytes(b"")
    # sorted relative paths: "0/abc" before "e"
    expected = hashlib.sha256(f"0/abc\t{ABC}\ne\t{EMPTY}\n".encode()).hexdigest()
    assert sha256(d) == expected
    (d / "e").rename(d / "f")
    assert sha256(d) != expected


@pytest.fixture
def reads(tmp_path, monkeypatch):
    """Hash cache in tmp_path/cache; returns the list of files actually read by the hasher."""
    monkeypatch.setenv(provenance.CACHE_ENV, str(tmp_path / "cache"))
    seen, read = [], provenance._read_sha256

    def counting(path):
        seen.append(Path(path).name)
        return read(path)

    monkeypatch.setattr(provenance, "_read_sha256", counting)
    return seen


def _replace(path: Path, data: bytes) -> None:
    # how memgen writes every artifact (memgen.io): a temporary renamed over the file
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_hash_cache_reads_an_unchanged_file_once(tmp_path, reads, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").write_bytes(b"abc")
    (tmp_path / "out").write_bytes(b"")
    assert sha256(tmp_path / "a", cache=True) == ABC
    assert sha256(tmp_path / "a", cache=True) == ABC
    write_records("r", ["a"], ["out"], {}, {}, {}, "cpu", T0, T0)
    write_records("r", ["a"], ["out"], {}, {}, {}, "cpu", T0, T0)
    assert reads == ["a", "out"]
    assert read_record("out")["inputs"] == [{"path": "a", "sha256": ABC, "bytes": 3}]
    assert sha256(tmp_path / "a") == ABC and reads[-1] == "a"  # uncached (trace) always reads
    assert all(".tmp" not in p.name for p in (tmp_path / "cache").rglob("*"))


def test_hash_cache_sees_a_changed_file_of_the_same_size(tmp_path, reads):
    f = tmp_path / "a"
    _replace(f, b"abc")
    assert sha256(f, cache=True) == ABC
    _replace(f, b"abd")  # same size, written at once: a new inode
    assert sha256(f, cache=True) == hashlib.sha256(b"abd").hexdigest()
    # edited in place (same inode) with its mtime put back, as cp -p or rsync -t do: the ctime still moves
    before = os.stat(f)
    time.sleep(0.05)
    with open(f, "r+b") as fh:
        fh.write(b"abe")
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(f)
    if after.st_ctime_ns == before.st_ctime_ns:
        pytest.skip("this filesystem's timestamps are too coarse to tell the edit apart")
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, 3, before.st_mtime_ns)
    assert sha256(f, cache=True) == hashlib.sha256(b"abe").hexdigest()
    assert reads == ["a", "a", "a"]


def test_a_corrupt_or_unwritable_hash_cache_is_ignored(tmp_path, reads, monkeypatch):
    f = tmp_path / "a"
    f.write_bytes(b"abc")
    assert sha256(f, cache=True) == ABC
    (entry,) = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    entry.write_text("not a digest")
    assert sha256(f, cache=True) == ABC and len(reads) == 2
    assert entry.read_text().strip() == ABC  # repaired
    entry.write_bytes(b"\xff\xfe")
    assert sha256(f, cache=True) == ABC and len(reads) == 3
    monkeypatch.setenv(provenance.CACHE_ENV, str(f / "cannot-be-a-folder"))  # a file in the way
    assert sha256(f, cache=True) == ABC and len(reads) == 4
    monkeypatch.setenv(provenance.CACHE_ENV, "")  # off
    assert sha256(f, cache=True) == ABC and sha256(f, cache=True) == ABC and len(reads) == 6


def test_hash_cache_defaults_to_the_results_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(provenance.CACHE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").write_bytes(b"abc")
    assert sha256("a", cache=True) == ABC
    assert os.listdir(tmp_path) == ["a"]  # no results/ here: nothing cached, nothing created
    (tmp_path / "results" / "x").mkdir(parents=True)
    assert sha256("a", cache=True) == ABC
    assert sorted(os.listdir(tmp_path / "results")) == [".memgen-hash-cache", "x"]
    assert os.listdir(tmp_path / "results" / "x") == []


def _git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo), *args],
        check=True,
        capture_output=True,
    )


def test_code_version_of_a_git_checkout(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    _git(tmp_path, "add", "a.py")
    _git(tmp_path, "commit", "-qm", "one")
    head = subprocess.run(
        ["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert code_version(tmp_path) == {"commit": head, "dirty": False, "modified": []}
    (tmp_path / "untracked.txt").write_text("results are not code\n")
    assert code_version(tmp_path)["dirty"] is False
    (tmp_path / "a.py").write_text("x = 2\n")
    assert code_version(tmp_path) == {"commit": head, "dirty": True, "modified": ["a.py"]}


def test_code_version_outside_git_is_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert code_version(tmp_path) == {"commit": "unknown", "dirty": "unknown", "modified": []}


def test_package_versions():
    v = package_versions()
    assert set(v) == {
        "python",
        "memgen",
        "torch",
        "torchvision",
        "timm",
        "numpy",
        "scipy",
        "sklearn",
        "pandas",
        "snakemake",
    }
    assert v["python"] == platform.python_version()
    assert v["memgen"] == memgen.__version__
    assert v["numpy"] == np.__version__


def test_write_records_beside_each_output(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw.csv").write_bytes(b"abc")
    (tmp_path / "results" / "members").mkdir(parents=True)
    (tmp_path / "results" / "scores.csv").write_bytes(b"")
    (tmp_path / "results" / "members" / "abc").write_bytes(b"abc")
    written = write_records(
        "scores",
        ["data/raw.csv"],
        ["results/scores.csv", "results/members/"],
        params={"min_out": np.int64(10), "alpha": 0.05, "tau": float("nan")},
        config={"scores": {"definitions": ["fz", "frac"]}},
        seeds={"masks": 3},
        device="cpu",
        started=T0,
        ended=T0 + 90.5,
        log="logs/scores.log",
        wildcards={"dataset": "digits"},
    )
    assert written == [Path("results/scores.csv.prov.json"), Path("results/members.prov.json")]
    a, b = (json.loads(p.read_text()) for p in written)
    assert a == b  # one job, one record, beside each output
    assert a["format"] == "memgen-provenance/1"
    assert a["rule"] == "scores" and a["wildcards"] == {"dataset": "digits"}
    assert a["params"] == {"min_out": 10, "alpha": 0.05, "tau": "nan"}
    assert a["config"] == {"scores": {"definitions": ["fz", "frac"]}}
    assert a["seeds"] == {"masks": 3} and a["device"] == "cpu"
    assert a["started"] == "2026-01-02T03:04:05+00:00"
    assert a["ended"] == "2026-01-02T03:05:35+00:00"
    assert a["duration_s"] == 90.5
    assert a["log"] == "logs/scores.log"
    assert a["inputs"] == [{"path": "data/raw.csv", "sha256": ABC, "bytes": 3}]
    dir_hash = hashlib.sha256(f"abc\t{ABC}\n".encode()).hexdigest()
    assert a["outputs"] == [
        {"path": "results/scores.csv", "sha256": EMPTY, "bytes": 0},
        {"path": "results/members", "sha256": dir_hash, "bytes": 3},
    ]
    assert set(a["code"]) == {"commit", "dirty", "modified"}
    assert a["packages"]["python"] == platform.python_version()
    assert a["host"]["hostname"]
    assert not [p for p in os.listdir(tmp_path / "results") if ".tmp" in p]
    assert read_record("results/scores.csv") == a
    assert read_record("results/members") == a
    assert read_record("results/scores.csv.prov.json") == a


def test_paths_outside_the_working_directory_stay_absolute(tmp_path, monkeypatch):
    work, shared = tmp_path / "work", tmp_path / "shared"
    work.mkdir()
    shared.mkdir()
    (shared / "abc").write_bytes(b"abc")
    (work / "out").write_bytes(b"")
    monkeypatch.chdir(work)
    write_records("r", [str(shared / "abc")], ["out"], {}, {}, {}, "cpu", T0, T0)
    rec = read_record("out")
    assert rec["inputs"][0]["path"] == (shared / "abc").as_posix()
    assert rec["outputs"][0]["path"] == "out"


def test_nested_input_lists_are_flattened(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for n in ("a", "b", "c", "out"):
        (tmp_path / n).write_bytes(b"abc")
    write_records("r", [["a", "b"], "c"], ["out"], {}, {}, {}, "cpu", T0, T0)
    assert [i["path"] for i in read_record("out")["inputs"]] == ["a", "b", "c"]


def test_missing_output_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MemgenError, match=r"rule masks: output results/masks\.npz does not exist.*Fix:"):
        write_records("masks", [], ["results/masks.npz"], {}, {}, {}, "cpu", T0, T0)
    assert not record_path(tmp_path / "results/masks.npz").exists()


def test_read_record_none_without_sidecar_and_error_on_a_broken_one(tmp_path):
    (tmp_path / "x.csv").write_text("1\n")
    assert read_record(tmp_path / "x.csv") is None
    (tmp_path / "x.csv.prov.json").write_text('{"format": "memgen-prov')
    with pytest.raises(MemgenError, match=r"prov\.json cannot be read .*truncated.*Fix: rerun the rule"):
        read_record(tmp_path / "x.csv")
    (tmp_path / "x.csv.prov.json").write_text('{"format": "other"}')
    with pytest.raises(MemgenError, match="is not a memgen-provenance/1 record"):
        read_record(tmp_path / "x.csv")


_SNAKEFILE = """
rule copy:
    input:
        raw="data/raw.txt",
    output:
        "results/{name}/copy.txt",
    params:
        factor=3,
    log:
        "logs/{name}/copy.log",
    script:
        "job.py"
"""
_SCRIPT = """
from pathlib import Path
from memgen.provenance import write_job_records
Path(snakemake.output[0]).write_text(Path(snakemake.input.raw).read_text() * snakemake.params.factor)
write_job_records(snakemake, config={"factor": 3}, seeds={"seed": 0}, device="cpu", started=0.0, ended=2.0)
"""


@pytest.mark.workflow
def test_write_job_records_from_a_real_snakemake_job(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "raw.txt").write_bytes(b"abc")
    (tmp_path / "Snakefile").write_text(_SNAKEFILE)
    (tmp_path / "job.py").write_text(_SCRIPT)
    smk = Path(sys.executable).with_name("snakemake")
    r = subprocess.run(
        [str(smk), "--cores", "1", "results/demo/copy.txt"], cwd=tmp_path, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-2000:]
    rec = read_record(tmp_path / "results" / "demo" / "copy.txt")
    assert rec["rule"] == "copy" and rec["wildcards"] == {"name": "demo"}
    assert rec["params"] == {"factor": 3} and rec["log"] == "logs/demo/copy.log"
    assert rec["inputs"] == [{"path": "data/raw.txt", "sha256": ABC, "bytes": 3}]
    nine = hashlib.sha256(b"abcabcabc").hexdigest()
    assert rec["outputs"] == [{"path": "results/demo/copy.txt", "sha256": nine, "bytes": 9}]
    assert rec["duration_s"] == 2.0
