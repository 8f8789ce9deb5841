"""Reading and writing artifacts: atomic writes, and loads that fail with a clear message."""

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

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


def save_checkpoint(path, obj: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path) -> dict:
    """Load a checkpoint with weights_only=True: nothing read from disk can execute code."""
    path = Path(path)
    if not path.exists():
        raise fail(f"checkpoint {path} does not exist", "rerun the member's training rule")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for bad files; all mean the same to the user
        raise fail(
            f"checkpoint {path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:200]})",
            f"delete it and rerun: snakemake --rerun-incomplete --forcerun {path}",
        ) from None
