"""The released layouts (Feldman & Zhang's pairs and estimates, the C-scores): files of exactly their keys,
dtypes and shapes are read and held against a study; a wrong order is named at its first label; a round trip
(export, then compare) agrees perfectly."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import memgen
from memgen import formats
from memgen.errors import MemgenError

N, T = 40, 12


@pytest.fixture
def toy(tmp_path):
    """A results folder with what compare reads: one ensemble's scores and thresholds, and influence pairs."""
    rng = np.random.default_rng(0)
    d = tmp_path / "results" / "toy" / "mlp"
    (d / "rate0.95").mkdir(parents=True)
    labels = np.arange(N) % 10
    canary = np.zeros(N, int)
    canary[[3, 17]] = 1
    fz = rng.uniform(0, 1, N)
    pd.DataFrame(
        {"index": range(N), "path": "", "label": labels, "true_label": labels, "canary": canary, "fz": fz,
         "frac": fz, "acc_out": rng.uniform(0, 1, N)}
    ).to_csv(d / "rate0.95" / "scores.csv", index=False)  # fmt: skip
    rules = {"null": {"fz": {"tau": 0.8}, "frac": {"tau": 0.8}}}
    (d / "rate0.95" / "thresholds.json").write_text(json.dumps({"rules": rules}))
    pairs = {"train_index": [0, 1, 2, 5], "test_index": [0, 1, 1, 4], "infl": [0.5, 0.2, 0.1, 0.9]}
    pd.DataFrame(pairs | {"test_set": "original"}).to_csv(d / "influence.csv", index=False)
    return memgen.open(tmp_path), labels, fz


def test_each_released_layout_is_recognised(tmp_path):
    assert formats.layout(["tr_idx", "tt_idx", "infl", "mem"]) == "pairs"
    assert formats.layout(["tr_mem", "tr_labels", "tt_labels", "infl_matrix_class0"]) == "matrix"
    assert formats.layout(["labels", "scores"]) == "cscores"
    with pytest.raises(MemgenError, match="none of the released layouts"):
        formats.layout(["x"])


def test_a_matrix_file_in_the_studys_order_agrees(toy, tmp_path):
    s, labels, fz = toy
    f = tmp_path / "cifar100_infl_matrix.npz"
    np.savez(
        f, tr_mem=fz.astype(np.float64), tr_labels=labels.astype(np.int64), tt_labels=np.zeros(T, np.int64)
    )
    table = formats.compare(f, s, "rate0.95", "fz")
    rho, at_cut, at_tau = (table.iloc[i] for i in range(3))
    assert rho["rho"] == pytest.approx(1.0) and rho["n"] == N - 2  # canaries are NaN on memgen's side
    natural = np.ones(N, bool)
    natural[[3, 17]] = False
    theirs, ours = int((fz >= 0.25).sum()), int(((fz >= 0.25) & natural).sum())
    assert (at_cut["theirs"], at_cut["ours"], at_cut["both"]) == (theirs, ours, ours)
    assert (at_tau["ours"], at_tau["both"]) == (int(((fz >= 0.8) & natural).sum()),) * 2


def test_another_order_is_named_at_its_first_label(toy, tmp_path):
    s, labels, fz = toy
    f = tmp_path / "cscores.npz"
    np.savez(f, labels=np.roll(labels, 1).astype(np.int64), scores=np.zeros(N))
    with pytest.raises(MemgenError, match=r"label 9 at index 0 in the file, 0 in the study \(40 differ\)"):
        formats.compare(f, s, "rate0.95", "fz")
    np.savez(f, labels=labels[:-1].astype(np.int64), scores=np.zeros(N - 1))
    with pytest.raises(MemgenError, match="39 labels, the study 40"):
        formats.compare(f, s, "rate0.95", "fz")


def test_pairs_are_compared_as_pairs(toy, tmp_path):
    s, labels, fz = toy
    keep = [
        i
        for i, (tr, infl) in enumerate([(0, 0.5), (1, 0.2), (2, 0.1), (5, 0.9)])
        if infl >= 0.15 and fz[tr] >= 0.25
    ]
    f = tmp_path / "pairs.npz"
    tr = np.array([0, 1, 2, 5], np.int64)[keep]
    tt = np.array([0, 1, 1, 4], np.int64)[keep]
    np.savez(
        f,
        tr_idx=np.append(tr, 7),
        tt_idx=np.append(tt, 7),
        infl=np.full(len(tr) + 1, 0.5),
        mem=np.append(fz[tr], 0.9),
    )
    row = formats.compare(f, s, "rate0.95", "fz").iloc[0]
    assert (row["theirs"], row["ours"], row["both"]) == (len(tr) + 1, len(tr), len(tr))


@pytest.mark.workflow
def test_export_then_compare_agrees_perfectly(study, tmp_path):
    """On the tiny study: the three files have the released keys and dtypes, and each compares perfectly."""
    out = tmp_path / "export"
    cmd = [sys.executable, "-m", "memgen"]
    done = subprocess.run(
        [*cmd, "export", "--results", str(study / "results"), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    files = sorted(out.glob("*.npz"))
    assert len(files) == 3
    for f in files:
        with np.load(f) as z:
            kind = formats.layout(z.files)
            if kind == "pairs":
                assert {k: z[k].dtype for k in z.files} == formats.PAIRS_KEYS
            if kind == "matrix":
                classes = [k for k in z.files if k.startswith("infl_matrix_class")]
                assert (
                    len(classes) == 10
                    and z["tr_mem"].dtype == np.float64
                    and z["tr_labels"].dtype == np.int64
                )
                assert z["infl_matrix_class3"].shape == (len(z["tr_classidx_3"]), len(z["tt_classidx_3"]))
        table = formats.compare(f, memgen.open(study), "rate0.95", "fz")
        assert (table["rho"].dropna() > 0.999999).all()
        if "jaccard" in table:  # the C-scores have no sets to overlap
            exact = table[table["comparison"].str.contains(">= 0.25|pairs \\(")]
            assert len(exact) and (exact["jaccard"] == 1).all() and (exact["both"] == exact["theirs"]).all()
    figure = tmp_path / "compare.png"
    matrix = next(f for f in files if f.name.endswith("_infl_matrix.npz"))
    done = subprocess.run(
        [*cmd, "compare", str(matrix), "--results", str(study / "results"), "--figure", str(figure)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "rho 1.000" in done.stdout and figure.stat().st_size > 0
