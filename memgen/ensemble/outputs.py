"""What a trained model leaves behind per evaluated point: the compact layout of member and utility outputs.

Full logits cost N x C x 2 bytes per model (2.56 GB for one ImageNet member); every score memgen computes
needs only the label's view of them. Per point and evaluation set (`train`, `test_<name>`) a file holds

    pred      uint16   argmax class (correct = pred == label; ties go to the lowest class, as argmax)
    margin    float32  label logit minus the largest other logit (> 0 iff the label wins outright)
    log_odds  float32  label logit minus logsumexp of the other logits = log(p / (1 - p)) of the label's
                       softmax probability p: LiRA's logit-scaled confidence; p = sigmoid(log_odds)

10 bytes per point, with `<set>__<field>` keys in one .npz, plus `layout` ("compact-v1"), `n_<set>` and
the writer's metadata (seed_id, member). Full float16 logits may ride along as `<set>__logits`.
"""

import zipfile
from pathlib import Path

import numpy as np

from memgen.errors import fail
from memgen.io import save_npz

LAYOUT = "compact-v1"
FIELDS = ("pred", "margin", "log_odds")
OPTIONAL = ("logits",)
_DTYPES = {"pred": np.uint16, "margin": np.float32, "log_odds": np.float32, "logits": np.float16}
# Rows per block inside compact(): a float64 copy of 4096 x 1000 logits is 33 MB, whatever the caller passes.
_ROWS = 4096


def _numpy(x) -> np.ndarray:
    # torch tensors (possibly on a GPU) without importing torch here: the scores stage never needs it
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":  # numpy has no bfloat16; float32 holds it exactly
            x = x.float()
        x = x.numpy()
    return np.asarray(x)


def compact(logits, labels) -> dict[str, np.ndarray]:
    """pred, margin and log_odds [N] of logits [N, C] (numpy or torch, any float dtype) and labels [N].

    Each row is computed alone, in float64 from the float32/float16 values and rounded once to float32,
    so compact of a batch equals the same rows of compact of the whole set bit for bit: callers may
    compute it batch by batch and concatenate.
    """
    labels = _numpy(labels).ravel()
    n = len(labels)
    shape = tuple(logits.shape)
    if len(shape) != 2 or shape[0] != n:
        raise fail(
            f"logits of shape {shape} and labels of shape ({n},) do not match (expected [N, C] and [N])",
            "pass the logits and labels of the same points",
        )
    c = shape[1]
    if c < 2:
        raise fail(
            f"logits have {c} class(es); a label's margin needs another class", "pass [N, C>=2] logits"
        )
    if c > np.iinfo(np.uint16).max + 1:
        raise fail(
            f"logits have {c} classes; compact outputs store the predicted class as uint16 (at most 65536)",
            "keep full logits instead, or use fewer classes",
        )
    if not np.issubdtype(labels.dtype, np.integer) or (n and (labels.min() < 0 or labels.max() >= c)):
        raise fail(
            f"labels must be integers in [0, {c}) (got {labels.dtype}, range "
            f"{labels.min() if n else None}..{labels.max() if n else None})",
            "pass the class indices the logits are scored against",
        )
    out = {
        "pred": np.empty(n, np.uint16),
        "margin": np.empty(n, np.float32),
        "log_odds": np.empty(n, np.float32),
    }
    for i in range(0, n, _ROWS):
        z = _numpy(logits[i : i + _ROWS]).astype(np.float64)
        y = labels[i : i + _ROWS]
        rows = np.arange(len(z))
        out["pred"][i : i + len(z)] = z.argmax(1)
        zy = z[rows, y]
        z[rows, y] = -np.inf  # the others only
        top = z.max(1)
        # sum over the others of exp(z - top) is in [1, C-1]: no overflow, and log_odds = margin - log(sum)
        rest = np.exp(z - top[:, None]).sum(1)
        margin = zy - top
        out["margin"][i : i + len(z)] = margin
        out["log_odds"][i : i + len(z)] = margin - np.log(rest)
    return out


def save_outputs(path, sets: dict[str, dict[str, np.ndarray]], **meta) -> None:
    """Write one model's outputs atomically: `sets` maps a set name ("train", "test_original", ...) to
    compact()'s dict, optionally with "logits" [N, C] (stored float16); `meta` are scalars (seed_id,
    member) stored as they are."""
    arrays: dict[str, np.ndarray] = {"layout": np.str_(LAYOUT)}
    for name, fields in sets.items():
        if not name or "__" in name:
            raise fail(f"output set name {name!r} is empty or holds '__'", "name sets like train or test_x")
        missing = [f for f in FIELDS if f not in fields]
        unknown = [f for f in fields if f not in FIELDS + OPTIONAL]
        if missing or unknown:
            raise fail(
                f"outputs of set {name!r} for {path} lack {missing} or have unknown fields {unknown}",
                f"pass compact(logits, labels), plus optionally 'logits'; fields are {FIELDS + OPTIONAL}",
            )
        n = len(fields["pred"])
        for f, v in fields.items():
            v = np.asarray(v)
            if v.shape[:1] != (n,) or v.ndim != (2 if f == "logits" else 1):
                raise fail(
                    f"outputs of set {name!r} for {path}: {f} has shape {v.shape}, pred ({n},)",
                    "pass arrays of the same points",
                )
            if f == "pred" and n and (v.min() < 0 or v.max() > np.iinfo(np.uint16).max):
                raise fail(f"pred of set {name!r} is outside uint16", "compute it with compact()")
            arrays[f"{name}__{f}"] = v.astype(_DTYPES[f], copy=False)
        arrays[f"n_{name}"] = np.int64(n)
    for k, v in meta.items():
        if k in arrays or "__" in k:
            raise fail(f"output metadata key {k!r} clashes with the layout's keys", "rename it")
        arrays[k] = np.asarray(v)
    save_npz(path, **arrays)


def _rerun(path) -> str:
    return f"delete it and rerun: snakemake --forcerun {path}"


class _Reader:
    """An open outputs file whose layout is checked; arrays are read only when asked for."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.exists():
            raise fail(
                f"{self.path} does not exist", "run the workflow rule that makes it (snakemake <path>)"
            )
        self.z = self._guard(lambda: np.load(self.path, allow_pickle=False))
        self.names = set(self.z.files)
        if "layout" not in self.names:
            old = "train" in self.names or any(k.startswith("test_") for k in self.names)
            what = "full logits in the old layout (arrays 'train', 'test_*')" if old else "no 'layout' array"
            self.close()
            raise fail(f"{self.path} holds {what}, not compact outputs ({LAYOUT})", _rerun(self.path))
        layout = str(self.read("layout"))
        if layout != LAYOUT:
            self.close()
            raise fail(f"{self.path} has layout {layout!r}; this memgen reads {LAYOUT!r}", _rerun(self.path))
        self.sets = sorted(k[2:] for k in self.names if k.startswith("n_") and f"{k[2:]}__pred" in self.names)

    def _guard(self, read):
        try:
            return read()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
            raise fail(
                f"{self.path} is truncated or corrupt ({type(e).__name__}: {e})",
                f"delete it and rerun: snakemake --rerun-incomplete --forcerun {self.path}",
            ) from None

    def read(self, key) -> np.ndarray:
        return self._guard(lambda: self.z[key])

    def count(self, name) -> int:
        if name not in self.sets:
            raise fail(f"{self.path} has no outputs for set {name!r} (has {self.sets})", _rerun(self.path))
        return int(self.read(f"n_{name}"))

    def close(self):
        self.z.close()


def load_outputs(
    path, n: int | None = None, sets=("train",), fields=("pred",)
) -> dict[str, dict[str, np.ndarray]]:
    """{set: {field: array}} of an outputs file: only the asked sets and fields are read.

    `n` (the dataset's training-set size) is checked against the file's train set. An old-layout file,
    a missing set or field, or a train set of another size is a MemgenError naming the file and the fix.
    """
    r = _Reader(path)
    try:
        if n is not None and r.count("train") != n:
            raise fail(
                f"{r.path} holds outputs for {r.count('train')} training points, the dataset has {n}: "
                "it was made for another dataset size",
                _rerun(r.path),
            )
        out = {}
        for name in sets:
            size = r.count(name)
            missing = [f for f in fields if f"{name}__{f}" not in r.names]
            if missing:
                keep = (
                    " (full logits are kept only with full_logits: true in the config)"
                    if "logits" in missing
                    else ""
                )
                raise fail(f"{r.path} lacks fields {missing} of set {name!r}{keep}", _rerun(r.path))
            out[name] = {f: r.read(f"{name}__{f}") for f in fields}
            if any(len(a) != size for a in out[name].values()):
                raise fail(f"{r.path}: arrays of set {name!r} are not {size} long", _rerun(r.path))
        return out
    finally:
        r.close()


def load_meta(path) -> dict:
    """The writer's metadata (seed_id, member, ...) as Python scalars, plus layout and
    `sets` = {set name: number of points}."""
    r = _Reader(path)
    try:
        meta = {"sets": {s: r.count(s) for s in r.sets}}
        skip = {f"n_{s}" for s in r.sets}
        for k in sorted(r.names - skip):
            if "__" not in k:
                v = r.read(k)
                meta[k] = v.item() if v.ndim == 0 else v
        return meta
    finally:
        r.close()


def correct(path, labels, name: str = "train") -> np.ndarray:
    """bool [N]: which points of set `name` the model classifies as `labels` (e.g. scoring labels)."""
    labels = np.asarray(labels)
    pred = load_outputs(path, len(labels) if name == "train" else None, (name,), ("pred",))[name]["pred"]
    if len(pred) != len(labels):
        raise fail(f"{path} holds {len(pred)} points of set {name!r}, labels {len(labels)}", _rerun(path))
    return pred == labels
