import os

import numpy as np
import pytest
import torch

from memgen.ensemble.outputs import FIELDS, compact, correct, load_meta, load_outputs, save_outputs
from memgen.errors import MemgenError
from memgen.io import save_npz


def _logits(n=500, c=10, seed=0, scale=4.0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    z = rng.normal(scale=scale, size=(n, c)).astype(np.float32)
    z[: n // 2, :] += 6 * np.eye(c, dtype=np.float32)[labels[: n // 2]]  # half of them confidently right
    return z, labels


def test_compact_is_exact_against_full_logits():
    z, y = _logits()
    out = compact(torch.from_numpy(z), torch.from_numpy(y))
    assert {k: v.dtype for k, v in out.items()} == {
        "pred": np.uint16,
        "margin": np.float32,
        "log_odds": np.float32,
    }
    np.testing.assert_array_equal(out["pred"] == y, z.argmax(1) == y)
    others = np.where(np.eye(10, dtype=bool)[y], -np.inf, z)
    np.testing.assert_array_equal(out["margin"], (z[np.arange(len(y)), y] - others.max(1)).astype(np.float32))
    p = torch.softmax(torch.from_numpy(z).double(), 1)[torch.arange(len(y)), torch.from_numpy(y)].numpy()
    p_back = 1 / (1 + np.exp(-out["log_odds"].astype(np.float64)))
    np.testing.assert_allclose(p_back, p, rtol=1e-6, atol=1e-12)
    # the log-odds keep resolution where p rounds to 1: log(p / (1 - p)) from the complement
    logit_p = np.log(p) - np.log1p(-p)
    ok = p < 1 - 1e-9
    np.testing.assert_allclose(out["log_odds"][ok], logit_p[ok], rtol=1e-5, atol=1e-5)
    assert (out["margin"] > 0).sum() == (out["pred"] == y).sum()  # no ties in continuous logits


def test_compact_of_batches_equals_compact_of_the_whole_bitwise():
    z, y = _logits(n=9000, c=37, seed=1)
    whole = compact(z, y)
    parts = [compact(z[i : i + 1000], y[i : i + 1000]) for i in range(0, len(y), 1000)]
    for f in FIELDS:
        assert np.array_equal(np.concatenate([p[f] for p in parts]), whole[f]), f
    half = compact(z.astype(np.float16), y)  # float16 logits (predict's) are read exactly as they are
    assert np.array_equal(half["pred"] == y, z.astype(np.float16).astype(np.float32).argmax(1) == y)
    bf = torch.from_numpy(z).bfloat16()  # autocast's dtype, which numpy lacks
    assert np.array_equal(compact(bf, y)["margin"], compact(bf.float().numpy(), y)["margin"])


def test_compact_rejects_bad_inputs():
    z, y = _logits(n=4)
    with pytest.raises(MemgenError, match="do not match"):
        compact(z, y[:3])
    with pytest.raises(MemgenError, match=r"labels must be integers in \[0, 10\)"):
        compact(z, y + 10)
    with pytest.raises(MemgenError, match="uint16"):
        compact(np.zeros((1, 70_000), np.float16), [0])


def _save(path, n=200, test=50, seed=3, **extra):
    z, y = _logits(n + test, seed=seed)
    sets = {"train": compact(z[:n], y[:n]), "test_cifar10.1": compact(z[n:], y[n:])}
    save_outputs(path, sets, seed_id=np.int64(seed), member=np.int64(7), **extra)
    return z, y, sets


def test_roundtrip_reads_only_what_is_asked_and_stays_small(tmp_path):
    p = tmp_path / "outputs.npz"
    z, y, sets = _save(p, n=20_000, test=0)
    got = load_outputs(p, n=20_000, sets=("train",), fields=("pred", "log_odds"))
    assert list(got) == ["train"] and list(got["train"]) == ["pred", "log_odds"]
    np.testing.assert_array_equal(got["train"]["log_odds"], sets["train"]["log_odds"])
    assert os.path.getsize(p) / 20_000 <= 12  # bytes per point, all fields, headers included
    np.testing.assert_array_equal(correct(p, y[:20_000]), z[:20_000].argmax(1) == y[:20_000])
    meta = load_meta(p)
    assert meta["seed_id"] == 3 and meta["member"] == 7 and meta["layout"] == "compact-v1"
    assert meta["sets"] == {"train": 20_000, "test_cifar10.1": 0}
    assert sorted(os.listdir(tmp_path)) == ["outputs.npz"]


def test_full_logits_ride_along_as_float16(tmp_path):
    p = tmp_path / "outputs.npz"
    z, y = _logits(30)
    save_outputs(p, {"train": {**compact(z, y), "logits": z}}, seed_id=1)
    got = load_outputs(p, 30, fields=("logits", "pred"))["train"]
    assert got["logits"].dtype == np.float16 and got["logits"].shape == (30, 10)
    _save(tmp_path / "b.npz")
    with pytest.raises(
        MemgenError, match=r"lacks fields \[.logits.\].*full_logits: true.*Fix: delete it and rerun"
    ):
        load_outputs(tmp_path / "b.npz", fields=("logits",))


def test_old_layout_file_is_rejected_with_the_fix(tmp_path):
    p = tmp_path / "logits.npz"
    save_npz(p, train=np.zeros((5, 10), np.float16), test_original=np.zeros((2, 10)), seed_id=np.int64(0))
    with pytest.raises(MemgenError) as e:
        load_outputs(p, n=5)
    msg = str(e.value)
    assert (
        str(p) in msg and "old layout" in msg and f"Fix: delete it and rerun: snakemake --forcerun {p}" in msg
    )
    assert "\n" not in msg


def test_other_dataset_size_and_missing_set_are_rejected(tmp_path):
    p = tmp_path / "outputs.npz"
    _save(p, n=200)
    with pytest.raises(
        MemgenError, match=r"200 training points, the dataset has 201: .*another dataset size"
    ):
        load_outputs(p, n=201)
    with pytest.raises(
        MemgenError, match=r"no outputs for set 'test_original' \(has \['test_cifar10.1', 'train'\]"
    ):
        load_outputs(p, sets=("test_original",))
    with pytest.raises(MemgenError, match="lacks fields"):
        load_outputs(p, fields=("margins",))


def test_truncated_or_missing_file_names_the_fix(tmp_path):
    p = tmp_path / "outputs.npz"
    _save(p)
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(MemgenError, match="truncated or corrupt.*Fix: delete it and rerun"):
        load_outputs(p)
    with pytest.raises(MemgenError, match="does not exist"):
        load_outputs(tmp_path / "nope.npz")


def test_save_refuses_incomplete_sets(tmp_path):
    with pytest.raises(MemgenError, match=r"lack \['margin', 'log_odds'\]"):
        save_outputs(tmp_path / "o.npz", {"train": {"pred": np.zeros(3, np.uint16)}})
    with pytest.raises(MemgenError, match="clashes"):
        _save(tmp_path / "o.npz", n_train=5)
    assert not (tmp_path / "o.npz").exists()
