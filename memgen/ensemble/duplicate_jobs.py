"""The duplicate list's job, file to file: a published list (ciFAIR) as it is, or the near-duplicate detector
(memgen.ensemble.duplicates) in the features of trained members, which is why it runs after the ensemble."""

import logging
from functools import partial

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from memgen.data.loaders import dataset_from
from memgen.data.stream import FolderImages, iter_chunks
from memgen.ensemble.duplicates import detect, load_duplicate_list
from memgen.ensemble.models import build_model, features
from memgen.ensemble.train import device, prepare
from memgen.io import load_checkpoint, save_csv
from memgen.paths import member_checkpoint
from memgen.recipe import TrainConfig

log = logging.getLogger(__name__)


def write_duplicates(name, source: dict, params: dict, out: str, config: dict | None = None) -> None:
    """A published duplicate list (ciFAIR) as it is, or the near-duplicate detector on member features
    (params: the loader's spec and the similarity threshold; config: the run-only loader keys)."""
    if "csv" in source:
        df = load_duplicate_list(source["csv"])
    else:
        df = _detect_duplicates(name, source, params, config)
    save_csv(out, pd.DataFrame(df))
    log.info("%s: %d test points listed as duplicates of training points", name, len(df))


_MEMBER_KEYS = ("state_dict", "arch")  # what the detector reads of a member's checkpoint


def _detect_duplicates(name, source: dict, params: dict, config: dict | None):
    """The detector (memgen.ensemble.duplicates.detect) in the penultimate features of member 0 of the
    reference ensemble; where some points' features are all zero or not finite (dead ReLU units), in the
    features of its first members concatenated (`source["members"]`), then in pixels; what was passed over
    is logged."""
    paths = [source.get("checkpoint") or member_checkpoint(source["member"])]
    paths += [member_checkpoint(p) for p in source.get("members", [])[1:]]
    first = load_checkpoint(paths[0], required=_MEMBER_KEYS)
    rrc = bool(TrainConfig.from_dict(first["config"]).random_resized_crop)
    ds = dataset_from(params["loader"], name, config, rrc)
    # the members' evaluation view of both sets (centre crop after random-resized-crop training)
    sets = tuple(
        x.evaluating(rrc) if isinstance(x, FolderImages) else x for x in (ds.x_train, ds.tests["original"][0])
    )
    members = _MemberFeatures(paths, first, ds, sets, device())
    spaces = [("member 0 features", partial(members, 0))]
    if len(paths) > 1:
        spaces.append((f"members 0-{len(paths) - 1} features concatenated", members.concatenated))
    spaces.append(("pixels", partial(_pixel_features, sets, members.dev)))
    df, report = detect(spaces, params["threshold"])
    _log_passed_over(name, report)
    return df


class _MemberFeatures:
    """Penultimate features (train, test) of each member checkpoint, computed once, when first asked for."""

    def __init__(self, paths: list[str], first: dict, ds, sets: tuple, dev: str):
        self.paths, self.first, self.ds, self.sets, self.dev = paths, first, ds, sets, dev
        self.cache = {}

    def __call__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if i not in self.cache:
            path = self.paths[i]
            ck = self.first if path == self.paths[0] else load_checkpoint(path, required=_MEMBER_KEYS)
            self.cache[i] = _member_features(ck, self.ds, self.sets, self.dev)
        return self.cache[i]

    def concatenated(self) -> tuple[np.ndarray, np.ndarray]:
        parts = [self(i) for i in range(len(self.paths))]
        return np.concatenate([p[0] for p in parts], 1), np.concatenate([p[1] for p in parts], 1)


@torch.no_grad()
def _member_features(ck: dict, ds, sets: tuple, dev: str) -> tuple[np.ndarray, ...]:
    """Penultimate-layer features [n, d] of one member checkpoint on each of `sets`."""
    options = TrainConfig.from_dict(ck["config"]).model
    model = build_model(ck["arch"], ds.x_train.shape[1:], ds.num_classes, options)
    model.load_state_dict(ck["state_dict"])
    model.to(dev).eval()
    mean = torch.tensor(ck["mean"], dtype=torch.float32, device=dev)[None, :, None, None]
    std = torch.tensor(ck["std"], dtype=torch.float32, device=dev)[None, :, None, None]
    out = []
    for x in sets:
        chunks = [
            features(model, prepare(raw, mean, std)).float().flatten(1).cpu()
            for raw in iter_chunks(x, 1024, dev)
        ]
        out.append(torch.cat(chunks).numpy())
    return tuple(out)


@torch.no_grad()
def _pixel_features(sets: tuple, dev: str) -> tuple[np.ndarray, ...]:
    """Pixels average-pooled to at most 16 x 16 a channel, so a streamed ImageNet fits in memory (3.9 GB)."""
    out = []
    for x in sets:
        side = min(16, x.shape[-1])
        chunks = [
            F.adaptive_avg_pool2d(raw.float(), side).flatten(1).cpu() for raw in iter_chunks(x, 1024, dev)
        ]
        out.append(torch.cat(chunks).numpy())
    return tuple(out)


def _log_passed_over(name: str, report: dict) -> None:
    """Warnings for the spaces the detector passed over and the points it left out of the search."""
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
