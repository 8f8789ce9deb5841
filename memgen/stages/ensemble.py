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


def write_scores(canaries_path, masks_path, output_paths, out_scores, out_correct, index_path=None) -> None:
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
    # correct.npz first, so the log-odds are freed before score_table's K x N temporaries
    save_npz(out_correct, correct=correct, log_odds=log_odds)
    del log_odds
    paths = point_paths(load_index(index_path)) if index_path else None
    if paths is not None and len(paths) != mask.shape[1]:
        raise fail(
            f"{index_path} lists {len(paths)} training points, {masks_path} masks {mask.shape[1]}",
            f"rerun: snakemake --forcerun {masks_path}",
        )
    table = score_table(mask, correct, c["label"], c["true_label"], c["canary"], paths)
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

    from memgen.dedup import load_duplicate_list, near_duplicates
    from memgen.models import build_model, features
    from memgen.stages.members import device
    from memgen.stream import FolderImages, iter_chunks
    from memgen.train import prepare

    if "csv" in source:
        df = load_duplicate_list(source["csv"])
    else:
        threshold = params["threshold"]
        checkpoint = source.get("checkpoint") or str(Path(source["member"]).with_name("checkpoint.pt"))
        ck = load_checkpoint(checkpoint, required=("state_dict", "arch"))
        rrc = bool(ck["config"].get("random_resized_crop", False))
        ds = dataset_from(params["loader"], name, config, rrc)
        dev = device()
        model = build_model(ck["arch"], ds.x_train.shape[1:], ds.num_classes, ck["config"].get("model"))
        model.load_state_dict(ck["state_dict"])
        model.to(dev).eval()
        mean = torch.tensor(ck["mean"], dtype=torch.float32, device=dev)[None, :, None, None]
        std = torch.tensor(ck["std"], dtype=torch.float32, device=dev)[None, :, None, None]

        @torch.no_grad()
        def feats(x):
            if isinstance(x, FolderImages):  # the member's evaluation view (centre crop after RRC)
                x = x.evaluating(rrc)
            chunks = [
                features(model, prepare(raw, mean, std)).float().cpu() for raw in iter_chunks(x, 1024, dev)
            ]
            return torch.cat(chunks).numpy()

        df = near_duplicates(feats(ds.x_train), feats(ds.tests["original"][0]), threshold)
    save_csv(out, pd.DataFrame(df))
    log.info("%s: %d test points listed as duplicates of training points", name, len(df))
