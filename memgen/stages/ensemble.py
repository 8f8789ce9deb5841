"""Stages of the score ensembles that train nothing: canaries, masks, scores, the duplicate list."""

import logging
from pathlib import Path

import numpy as np
import torch

from memgen.canaries import make_canaries
from memgen.data import load_dataset
from memgen.errors import fail
from memgen.index import load_index
from memgen.io import load_checkpoint, load_npz, save_csv, save_npz
from memgen.masks import block, check_mask_spec
from memgen.scores import score_table

log = logging.getLogger("memgen.stages")


def dataset_from(spec: dict, name: str, config: dict | None = None, random_resized_crop: bool = False):
    """The dataset as a rule's params describe it (`spec`), read the way the config says (the run-only
    loader keys, memgen.config.loader_run), for a recipe with or without random-resized crops."""
    import memgen.config as mc

    spec = {**spec, **mc.loader_run(config, name)}
    return load_dataset(name, spec, spec.get("data_root", "data"), random_resized_crop)


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


def write_masks(index_path: str, params: dict, members: int, out: str) -> dict:
    """The ensemble's K x N mask: blocks 0 .. K/B - 1, each from (seed, block index, rate, B) alone, so
    raising K appends blocks and leaves every existing member's row as it was."""
    n = load_index(index_path)["n"]
    B = params["block_size"]
    check_mask_spec(params["rate"], members, B)
    mask = np.concatenate([block(params["seed"], b, B, n, params["rate"]) for b in range(members // B)])
    save_npz(out, mask=mask, rate=params["rate"], block_size=B, seed=params["seed"])
    log.info("mask %s: %d members x %d points, each point in %d of them", out, *mask.shape, mask[:, 0].sum())
    return {"seeds": {"masks": params["seed"]}}


def write_scores(
    canaries_path, masks_path, output_paths, out_scores, out_correct, index_path=None, interval_level=0.95
) -> None:
    """scores.csv from the members' predictions, and correct.npz: `correct` (bool K x N) and `log_odds`
    (the label's log-odds, float16 K x N, for confidence-based definitions and LiRA). The index gives each
    point's file (`path`, "" without one or without an index)."""
    from memgen.memorized import point_paths
    from memgen.outputs import load_outputs

    c = load_npz(canaries_path, ["label", "true_label", "canary"])
    mask = load_npz(masks_path, ["mask"])["mask"]
    if len(output_paths) != len(mask):
        raise fail(
            f"{len(output_paths)} member outputs for a mask of {len(mask)} members",
            "rerun the ensemble's members",
        )
    if len(c["label"]) != mask.shape[1]:
        raise fail(
            f"{canaries_path} labels {len(c['label'])} points, {masks_path} masks {mask.shape[1]}",
            f"rerun: snakemake --forcerun {masks_path}",
        )
    # log_odds is float16: at 512 members x 1.28 M points a float32 matrix alone is 2.6 GB and the stage
    # would pass 4 GiB. float16 keeps 3 significant digits, far finer than the member-to-member spread
    # that confidence scores and LiRA's Gaussians measure; the member files keep float32.
    correct = np.zeros(mask.shape, dtype=bool)
    log_odds = np.zeros(mask.shape, dtype=np.float16)
    label = c["label"].astype(np.int32)  # uint16 pred == int32 is 10x faster than == int64
    for k, p in enumerate(output_paths):  # member order = mask row order (paths come sorted by block, slot)
        train = load_outputs(p, n=mask.shape[1], fields=("pred", "log_odds"))["train"]
        correct[k] = train["pred"] == label
        log_odds[k] = train["log_odds"]
    save_npz(out_correct, correct=correct, log_odds=log_odds)
    paths = point_paths(load_index(index_path)) if index_path else None
    if paths is not None and len(paths) != mask.shape[1]:
        raise fail(
            f"{index_path} lists {len(paths)} training points, {masks_path} masks {mask.shape[1]}",
            f"rerun: snakemake --forcerun {masks_path}",
        )
    # conf and lira read the float16 log-odds block by block (memgen.scores._CHUNK points at a time)
    table = score_table(
        mask, correct, c["label"], c["true_label"], c["canary"], paths, log_odds, interval_level
    )
    save_csv(out_scores, table)
    ai = table["acc_in"][c["canary"]].dropna()
    if ai.empty:  # canaries.fraction 0 (or no canary ever trained on): nothing to summarise
        log.info("scored %d points; no canary was trained on", len(table))
        return
    log.info(
        "scored %d points; canaries acc_in mean %.2f, quartiles %.2f/%.2f/%.2f "
        "(regime: partly fit when well below 1)",
        len(table),
        ai.mean(),
        *np.quantile(ai, [0.25, 0.5, 0.75]),
    )


def write_duplicates(name, source: dict, params: dict, out: str, config: dict | None = None) -> None:
    """A published duplicate list (ciFAIR) as it is, or the near-duplicate detector on member features
    (params: the loader's spec and the similarity threshold; config: the run-only loader keys)."""
    import pandas as pd

    from memgen.dedup import load_duplicate_list

    if "csv" in source:
        df = load_duplicate_list(source["csv"])
    else:
        df = _detect_duplicates(name, source, params, config)
    save_csv(out, pd.DataFrame(df))
    log.info("%s: %d test points listed as duplicates of training points", name, len(df))


def _detect_duplicates(name, source: dict, params: dict, config: dict | None):
    """The detector (memgen.dedup.detect) in the penultimate features of member 0 of the reference ensemble;
    where some points' features are all zero or not finite (dead ReLU units), in the features of its first
    members concatenated (`source["members"]`), then in pixels; what was passed over is logged."""
    import torch.nn.functional as F

    from memgen.dedup import detect
    from memgen.models import build_model, features
    from memgen.stages.members import device
    from memgen.stream import FolderImages, iter_chunks
    from memgen.train import prepare

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
