"""The data stage's jobs, file to file: canaries (the dataset index is memgen.data.index's)."""

import logging

from memgen.data.canaries import make_canaries
from memgen.data.index import load_index
from memgen.io import save_npz

log = logging.getLogger(__name__)


def write_canaries(index_path: str, name: str, params: dict, out: str) -> dict:
    idx = load_index(index_path)
    c = make_canaries(idx["labels"], idx["num_classes"], params["fraction"], params["seed"])
    save_npz(out, **c)
    log.info(
        "%s: %d training points, %d canaries (%.1f %%)",
        name,
        idx["n"],
        len(c["index"]),
        100 * c["canary"].mean(),
    )
    return {"seeds": {"canaries": params["seed"]}}
