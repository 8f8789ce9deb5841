"""The data stage's jobs, file to file: canaries and the duplicate list (published, or detected in member
features)."""

import logging
from pathlib import Path

import numpy as np
import torch

from memgen.data.canaries import make_canaries
from memgen.data.index import load_index
from memgen.data.loaders import dataset_from
from memgen.io import load_checkpoint, save_csv, save_npz

log = logging.getLogger("memgen.stages")


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


def write_duplicates(name, source: dict, params: dict, out: str, config: dict | None = None) -> None:
    """A published duplicate list (ciFAIR) as it is, or the near-duplicate detector on member features
    (params: the loader's spec and the similarity threshold; config: the run-only loader keys)."""
    import pandas as pd

    from memgen.data.duplicates import load_duplicate_list

    if "csv" in source:
        df = load_duplicate_list(source["csv"])
    else:
        df = _detect_duplicates(name, source, params, config)
    save_csv(out, pd.DataFrame(df))
    log.info("%s: %d test points listed as duplicates of training points", name, len(df))


def _detect_duplicates(name, source: dict, params: dict, config: dict | None):
    """The detector (memgen.data.duplicates.detect) in the penultimate features of member 0 of the reference ensemble;
    where some points' features are all zero or not finite (dead ReLU units), in the features of its first
    members concatenated (`source["members"]`), then in pixels; what was passed over is logged."""
    import torch.nn.functional as F

    from memgen.data.duplicates import detect
    from memgen.data.stream import FolderImages, iter_chunks
    from memgen.ensemble.models import build_model, features
    from memgen.ensemble.train import device, prepare

    paths = [source.get("checkpoint") or str(Path(source["member"]).with_name("checkpoint.pt"))]
    paths += [str(Path(p).with_name("checkpoint.pt")) for p in source.get("members", [])[1:]]
    first = load_checkpoint(paths[0], required=("state_dict", "arch"))
    rrc = bool(first["config"].get("random_resized_crop", False))
    ds = dataset_from(params["loader"], name, config, rrc)
    x_train, x_test = ds.x_train, ds.tests["original"][0]
    dev = device()

    def view(x):  # the members' evaluation view (centre crop after RRC)
        return x.evaluating(rrc) if isinstance(x, FolderImages) else x

    @torch.no_grad()
    def member_features(path):
        ck = first if path == paths[0] else load_checkpoint(path, required=("state_dict", "arch"))
        model = build_model(ck["arch"], ds.x_train.shape[1:], ds.num_classes, ck["config"].get("model"))
        model.load_state_dict(ck["state_dict"])
        model.to(dev).eval()
        mean = torch.tensor(ck["mean"], dtype=torch.float32, device=dev)[None, :, None, None]
        std = torch.tensor(ck["std"], dtype=torch.float32, device=dev)[None, :, None, None]

        def feats(x):
            chunks = [
                features(model, prepare(raw, mean, std)).float().flatten(1).cpu()
                for raw in iter_chunks(view(x), 1024, dev)
            ]
            return torch.cat(chunks).numpy()

        return feats(x_train), feats(x_test)

    @torch.no_grad()
    def pixels():
        # at most 16 x 16 per channel (average-pooled), so a streamed ImageNet fits in memory (3.9 GB)
        def feats(x):
            side = min(16, x.shape[-1])
            chunks = [
                F.adaptive_avg_pool2d(raw.float(), side).flatten(1).cpu()
                for raw in iter_chunks(view(x), 1024, dev)
            ]
            return torch.cat(chunks).numpy()

        return feats(x_train), feats(x_test)

    cache = {}

    def member(i):
        if i not in cache:
            cache[i] = member_features(paths[i])
        return cache[i]

    def concatenated():
        parts = [member(i) for i in range(len(paths))]
        return np.concatenate([p[0] for p in parts], 1), np.concatenate([p[1] for p in parts], 1)

    spaces = [("member 0 features", lambda: member(0))]
    if len(paths) > 1:
        spaces.append((f"members 0-{len(paths) - 1} features concatenated", concatenated))
    spaces.append(("pixels", pixels))
    df, report = detect(spaces, params["threshold"])
    for space, bad in report["degenerate"].items():
        log.warning(
            "%s: %d training and %d test points have %s that are all zero or not finite (training points "
            "%s, test points %s); cosine similarity is undefined there, so that space is passed over",
            name,
            bad["train"],
            bad["test"],
            space,
            bad["train_ids"],
            bad["test_ids"],
        )
    if report["degenerate"]:
        log.warning("%s: near-duplicates detected in %s (column Features of the list)", name, report["space"])
    if report["excluded"]["train"] or report["excluded"]["test"]:
        log.warning(
            "%s: %d training and %d test points are left out of the search (degenerate in every space)",
            name,
            len(report["excluded"]["train"]),
            len(report["excluded"]["test"]),
        )
    return df
