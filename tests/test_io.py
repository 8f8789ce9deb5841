import os
import pickle

import numpy as np
import pytest
import torch

from memgen.errors import MemgenError
from memgen.io import (
    CHECKPOINT_KEYS,
    load_checkpoint,
    load_json,
    load_npz,
    save_checkpoint,
    save_json,
    save_npz,
)


def _ckpt():
    return {"state_dict": {"w": torch.arange(6.0).reshape(2, 3)}, "config": {"lr": 0.4}, "seed": 7}


def test_npz_roundtrip_leaves_no_temporary_file(tmp_path):
    p = tmp_path / "sub" / "masks.npz"
    save_npz(p, mask=np.array([[True, False], [False, True]]), rate=np.float64(0.5))
    out = load_npz(p, keys=("mask", "rate"))
    assert out["mask"].tolist() == [[True, False], [False, True]]
    assert float(out["rate"]) == 0.5
    assert sorted(os.listdir(p.parent)) == ["masks.npz"]


def test_truncated_npz_names_the_file_and_the_fix(tmp_path):
    p = tmp_path / "logits.npz"
    save_npz(p, train=np.zeros((50, 10), np.float16))
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MemgenError) as e:
        load_npz(p)
    msg = str(e.value)
    assert str(p) in msg and "truncated or corrupt" in msg
    assert "Fix: delete it and rerun" in msg


def test_npz_missing_key_lists_what_is_there(tmp_path):
    p = tmp_path / "canaries.npz"
    save_npz(p, label=np.arange(3))
    with pytest.raises(MemgenError, match=r"lacks arrays \['canary'\] \(has \['label'\]\).*Fix:"):
        load_npz(p, keys=("label", "canary"))


def test_missing_npz_says_how_to_make_it(tmp_path):
    with pytest.raises(MemgenError, match=r"does not exist\. Fix: run the workflow rule"):
        load_npz(tmp_path / "nope.npz")


def test_checkpoint_roundtrip(tmp_path):
    p = tmp_path / "members" / "0" / "0" / "checkpoint.pt"
    save_checkpoint(p, _ckpt())
    out = load_checkpoint(p, required=CHECKPOINT_KEYS)
    assert out["seed"] == 7 and out["config"] == {"lr": 0.4}
    assert out["state_dict"]["w"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert sorted(os.listdir(p.parent)) == ["checkpoint.pt"]


def test_truncated_checkpoint_names_the_file_and_the_fix(tmp_path):
    p = tmp_path / "checkpoint.pt"
    save_checkpoint(p, _ckpt())
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MemgenError) as e:
        load_checkpoint(p)
    msg = str(e.value)
    assert f"checkpoint {p} cannot be read" in msg
    assert "Fix: delete it and rerun: snakemake --rerun-incomplete --forcerun" in msg


def test_checkpoint_missing_keys_named(tmp_path):
    p = tmp_path / "checkpoint.pt"
    save_checkpoint(p, {"state_dict": {}, "epoch": 3})
    with pytest.raises(MemgenError) as e:
        load_checkpoint(p, required=CHECKPOINT_KEYS)
    msg = str(e.value)
    assert f"checkpoint {p} lacks keys ['config', 'seed'] (has ['epoch', 'state_dict'])" in msg
    assert "Fix: delete it and rerun" in msg
    # The default loads any dict (resume states have another shape), as before the key check existed.
    assert load_checkpoint(p)["epoch"] == 3
    assert load_checkpoint(p, required=("epoch",))["epoch"] == 3


def test_checkpoint_that_is_not_a_dict(tmp_path):
    p = tmp_path / "checkpoint.pt"
    torch.save([1, 2], p)
    with pytest.raises(MemgenError, match="holds a list, not a dict"):
        load_checkpoint(p)


class _Evil:
    """Unpickling this runs a shell command: what a tampered checkpoint could do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_checkpoint_with_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "checkpoint.pt"
    obj = _ckpt() | {"payload": _Evil(marker)}
    torch.save(obj, p)
    with pytest.raises(MemgenError, match="cannot be read safely"):
        load_checkpoint(p)
    assert not marker.exists()
    # Control: the payload is real; an unsafe load would have run it.
    torch.load(p, weights_only=False)
    assert marker.exists()


def test_pickled_payload_also_refused_as_plain_pickle(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "checkpoint.pt"
    p.write_bytes(pickle.dumps(_Evil(marker), protocol=2))
    with pytest.raises(MemgenError):
        load_checkpoint(p)
    assert not marker.exists()


def test_json_roundtrip_and_numpy_values(tmp_path):
    p = tmp_path / "thresholds.json"
    save_json(p, {"tau": np.float64(0.25), "n": np.int64(90), "v": np.array([1, 2]), "s": {3, 1}})
    assert load_json(p) == {"tau": 0.25, "n": 90, "v": [1, 2], "s": [1, 3]}
    assert p.read_text().endswith("}\n")
    assert sorted(os.listdir(tmp_path)) == ["thresholds.json"]


def test_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError):
        save_json(tmp_path / "x.json", {"tau": float("nan")})
    assert os.listdir(tmp_path) == []


def test_truncated_json_names_the_file(tmp_path):
    p = tmp_path / "thresholds.json"
    p.write_text('{"tau": 0.2')
    with pytest.raises(MemgenError, match=r"thresholds\.json is truncated or not valid JSON.*Fix: delete it"):
        load_json(p)
    p.write_text("[1, 2]")
    with pytest.raises(MemgenError, match="holds a JSON list, not an object"):
        load_json(p)
