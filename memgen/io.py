"""Reading and writing artifacts: atomic writes, and loads that fail with a clear message."""

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from memgen.errors import fail


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def save_npz(path, **arrays) -> None:
    """Write an .npz atomically: a killed job leaves no half-written file that looks complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


def load_npz(path, keys=()) -> dict[str, np.ndarray]:
    """Load every array of an .npz; a truncated/corrupt file or a missing key is a MemgenError."""
    path = Path(path)
    if not path.exists():
        raise fail(f"{path} does not exist", "run the workflow rule that makes it (snakemake <path>)")
    try:
        with np.load(path, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise fail(
            f"{path} is truncated or corrupt ({type(e).__name__}: {e})",
            f"delete it and rerun: snakemake --rerun-incomplete --forcerun {path}",
        ) from None
    missing = [k for k in keys if k not in out]
    if missing:
        raise fail(
            f"{path} lacks arrays {missing} (has {sorted(out)}); it was made by another version or rule",
            f"delete it and rerun: snakemake --forcerun {path}",
        )
    return out


def save_csv(path, df) -> None:
    """Write a DataFrame as CSV atomically: a killed job leaves no half-written table that looks complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


def save_checkpoint(path, obj: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    import torch  # here, not at the top: `memgen trace` and table rules should not pay torch's import

    torch.save(obj, tmp)
    os.replace(tmp, path)


# A member or utility-run checkpoint carries these (docs/artifacts.md), so a file found alone can be
# explained; readers of those pass required=CHECKPOINT_KEYS. The default stays () because resume states
# (memgen.ensemble.resume) are checkpoints of another shape.
CHECKPOINT_KEYS = ("state_dict", "config", "seed")


def load_checkpoint(path, required=()) -> dict:
    """Load a checkpoint with weights_only=True: nothing read from disk can execute code.

    A file that is truncated, not a dict, or lacks a key of `required` (e.g. CHECKPOINT_KEYS) is a
    MemgenError naming the file and the fix.
    """
    path = Path(path)
    if not path.exists():
        raise fail(f"checkpoint {path} does not exist", "rerun the member's training rule")
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad files; all mean the same to the user
        raise fail(
            f"checkpoint {path} cannot be read safely ({type(e).__name__}: {_first_line(e)}); "
            "a truncated file, or one holding objects other than tensors and plain containers, "
            "which are refused because unpickling them could run code",
            f"delete it and rerun: snakemake --rerun-incomplete --forcerun {path}",
        ) from None
    if not isinstance(obj, dict):
        raise fail(
            f"checkpoint {path} holds a {type(obj).__name__}, not a dict with keys {list(required)}",
            f"delete it and rerun: snakemake --forcerun {path}",
        )
    missing = [k for k in required if k not in obj]
    if missing:
        raise fail(
            f"checkpoint {path} lacks keys {missing} (has {sorted(map(str, obj))}); "
            "it was made by another version or rule",
            f"delete it and rerun: snakemake --forcerun {path}",
        )
    return obj


def _first_line(e: Exception) -> str:
    lines = str(e).strip().splitlines()
    return lines[0][:200] if lines else ""


def save_json(path, obj) -> None:
    """Write JSON atomically (sorted keys, indented), so a reader never sees half a record."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Serialise before opening, so an unserialisable value leaves neither the file nor a temporary.
    # NaN is refused: it is not JSON, and jq/JavaScript readers of the file would choke on it.
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, default=_json_default) + "\n"
    tmp = _tmp(path)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def load_json(path) -> dict:
    """Load a JSON object; a truncated or non-object file is a MemgenError naming the file."""
    path = Path(path)
    if not path.exists():
        raise fail(f"{path} does not exist", "run the workflow rule that makes it (snakemake <path>)")
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise fail(
            f"{path} is truncated or not valid JSON ({type(e).__name__}: {e})",
            f"delete it and rerun the rule that makes it: snakemake --forcerun {path}",
        ) from None
    if not isinstance(obj, dict):
        raise fail(
            f"{path} holds a JSON {type(obj).__name__}, not an object",
            f"delete it and rerun: snakemake --forcerun {path}",
        )
    return obj


def _json_default(o):
    # numpy scalars/arrays and paths turn up in params and configs; store them as plain JSON values.
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, set | frozenset):
        return sorted(o, key=str)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


# ---- reading and writing ------------------------------------------------------------------------------
def read_csv(path, columns=()) -> pd.DataFrame:
    """Read a table; a missing file, an unparsable one or a missing column is a MemgenError."""
    path = Path(path)
    if not path.exists():
        raise fail(f"{path} does not exist", "run the workflow rule that makes it (snakemake <path>)")
    try:
        df = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise fail(
            f"{path} is truncated or not a CSV table ({type(e).__name__}: {e})",
            f"delete it and rerun the rule that makes it: snakemake --forcerun {path}",
        ) from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise fail(
            f"{path} lacks columns {missing} (has {list(df.columns)}); another version or rule made it",
            f"delete it and rerun: snakemake --forcerun {path}",
        )
    return df
