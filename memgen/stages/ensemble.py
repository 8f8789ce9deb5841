"""Stages that make the score ensembles and the utility runs: canaries, masks, training, scores."""

import logging
from pathlib import Path

import numpy as np
import torch

from memgen.canaries import make_canaries
from memgen.data import load_dataset
from memgen.errors import fail
from memgen.io import load_checkpoint, load_npz, save_checkpoint, save_csv, save_npz
from memgen.masks import block, check_mask_spec
from memgen.scores import score_table
from memgen.train import Job, TrainConfig, predict, train

log = logging.getLogger("memgen.stages")


def device() -> str:
    """cuda when a GPU is visible (SLURM jobs), else cpu; CPU-only machines never touch CUDA."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def dataset_from(spec: dict, name: str):
    return load_dataset(name, spec, spec.get("data_root", "data"))


def write_canaries(spec: dict, name: str, params: dict, out: str) -> dict:
    ds = dataset_from(spec, name)
    c = make_canaries(ds.y_train, ds.num_classes, params["fraction"], params["seed"])
    save_npz(out, **c)
    log.info(
        "%s: %d training points, %d canaries (%.1f %%)",
        name,
        len(ds.y_train),
        len(c["index"]),
        100 * c["canary"].mean(),
    )
    return {"seeds": {"canaries": params["seed"]}}


def write_mask_block(spec: dict, name: str, params: dict, b: int, out: str) -> dict:
    n = len(dataset_from(spec, name).y_train)
    check_mask_spec(params["rate"], params["block_size"], params["block_size"])
    mask = block(params["seed"], b, params["block_size"], n, params["rate"])
    save_npz(
        out, mask=mask, block=b, rate=params["rate"], block_size=params["block_size"], seed=params["seed"]
    )
    log.info(
        "mask block %d: %d members x %d points, each point in %d of them", b, *mask.shape, mask[:, 0].sum()
    )
    return {"seeds": {"masks": params["seed"]}}


def write_masks(block_paths: list[str], out: str) -> None:
    """The ensemble's K x N mask: its blocks in order."""
    blocks = [load_npz(p, ["mask", "rate", "block_size", "seed"]) for p in block_paths]
    mask = np.concatenate([b["mask"] for b in blocks])
    save_npz(
        out, mask=mask, rate=blocks[0]["rate"], block_size=blocks[0]["block_size"], seed=blocks[0]["seed"]
    )
    log.info("mask %s: %d members x %d points", out, *mask.shape)


def member_masks(block_paths: list[str], members: list[int]) -> list[np.ndarray]:
    """Rows of the given members, from the blocks that hold them."""
    blocks = {int(z["block"]): z["mask"] for z in (load_npz(p, ["mask", "block"]) for p in block_paths)}
    size = len(next(iter(blocks.values())))
    missing = sorted({k // size for k in members} - set(blocks))
    if missing:
        raise fail(
            f"mask blocks {missing} are not among the inputs {block_paths}",
            "rerun the members rule (snakemake --forcerun)",
        )
    return [blocks[k // size][k % size] for k in members]


def _eval_sets(ds) -> dict[str, np.ndarray]:
    return {"train": ds.x_train, **{f"test_{k}": v[0] for k, v in ds.tests.items()}}


def train_and_save(
    ds, labels, indices, seeds, ids, arch, cfg_dict, ckpts, logits, resume, extra=None
) -> dict:
    """Train one shard (members or utility seeds) and write each model's checkpoint and logits."""
    cfg = TrainConfig.from_dict(cfg_dict)
    job = Job(ds.x_train, labels, indices, seeds, arch, ds.num_classes, ds.mean, ds.std)
    dev = device()
    results = train(job, cfg, dev, Path(resume))
    for k, res in enumerate(results):
        sets = {name: predict(job, cfg, res["state_dict"], x, dev) for name, x in _eval_sets(ds).items()}
        save_npz(logits[k], **sets, seed_id=np.int64(ids[k]))
        save_checkpoint(
            ckpts[k],
            {
                "state_dict": res["state_dict"],
                "config": cfg_dict,
                "seed": int(seeds[k]),
                "member": int(ids[k]),
                "epoch": cfg.epochs,
                "arch": arch,
                "num_classes": ds.num_classes,
                "mean": ds.mean.tolist(),
                "std": ds.std.tolist(),
                **(extra or {}),
            },
        )
    Path(resume).unlink(missing_ok=True)  # finished: the resumable state has served its purpose
    return {"device": dev, "seeds": {str(i): int(s) for i, s in zip(ids, seeds, strict=True)}}


def write_members(spec, name, arch, canaries_path, block_paths, params, ckpts, logits, resume) -> dict:
    ds = dataset_from(spec, name)
    labels = load_npz(canaries_path, ["label"])["label"]
    ids = params["members"]
    rows = member_masks(block_paths, ids)
    if len(rows[0]) != len(labels):
        raise fail(
            f"mask blocks {block_paths} cover {len(rows[0])} points, the dataset {len(labels)}",
            "rerun the mask_block rule (snakemake --forcerun)",
        )
    indices = [np.flatnonzero(r) for r in rows]
    return train_and_save(
        ds, labels, indices, params["seeds"], ids, arch, params["training"], ckpts, logits, resume
    )


def write_utility_runs(
    spec, name, arch, canaries_path, removal_path, condition, params, ckpts, logits, resume
) -> dict:
    """Utility runs use TRUE labels (canaries are only for score ensembles) minus the removal set."""
    from memgen.removal import keep_indices, load_removal

    ds = dataset_from(spec, name)
    true = load_npz(canaries_path, ["true_label"])["true_label"]
    sets = load_removal(removal_path)
    if condition == "memorized":
        removed = [sets["memorized"]] * len(params["seed_ids"])
    else:  # seed s removes its own random draw (same size as the memorized set)
        by_seed = sets["random_by_seed"]
        if max(params["seed_ids"]) >= len(by_seed):
            raise fail(
                f"{removal_path} holds random sets for {len(by_seed)} seeds, "
                f"seed {max(params['seed_ids'])} asked",
                f"rerun: snakemake --forcerun {removal_path}",
            )
        removed = [by_seed[s] for s in params["seed_ids"]]
    indices = [keep_indices(len(true), r) for r in removed]
    return train_and_save(
        ds,
        true,
        indices,
        params["seeds"],
        params["seed_ids"],
        arch,
        params["training"],
        ckpts,
        logits,
        resume,
        extra={"condition": condition, "n_removed": int(len(removed[0]))},
    )


def write_scores(canaries_path, masks_path, logit_paths, out_scores, out_correct) -> None:
    c = load_npz(canaries_path, ["label", "true_label", "canary"])
    mask = load_npz(masks_path, ["mask"])["mask"]
    if len(logit_paths) != len(mask):
        raise fail(
            f"{len(logit_paths)} member logits for a mask of {len(mask)} members",
            "rerun the ensemble's members",
        )
    correct = np.zeros(mask.shape, dtype=bool)
    for k, p in enumerate(logit_paths):  # member order = mask row order (paths come sorted by shard, slot)
        train_logits = load_npz(p, ["train"])["train"]
        if train_logits.shape[0] != mask.shape[1]:
            raise fail(
                f"{p} has logits for {train_logits.shape[0]} points, the mask {mask.shape[1]}",
                f"rerun: snakemake --forcerun {p}",
            )
        correct[k] = train_logits.astype(np.float32).argmax(1) == c["label"]
    table = score_table(mask, correct, c["label"], c["true_label"], c["canary"])
    save_csv(out_scores, table)
    save_npz(out_correct, correct=correct)
    can = c["canary"]
    ai = table["acc_in"][can]
    log.info(
        "scored %d points; canaries acc_in mean %.2f, quartiles %.2f/%.2f/%.2f "
        "(regime: partly fit when well below 1)",
        len(table),
        ai.mean(),
        *np.nanquantile(ai, [0.25, 0.5, 0.75]),
    )


def write_duplicates(spec, name, source: dict, threshold: float, out: str) -> None:
    """A published duplicate list (ciFAIR) as it is, or the near-duplicate detector on member features."""
    import pandas as pd

    from memgen.dedup import load_duplicate_list, near_duplicates
    from memgen.models import build_model, features

    if "csv" in source:
        df = load_duplicate_list(source["csv"])
    else:
        ds = dataset_from(spec, name)
        ck = load_checkpoint(source["checkpoint"], required=("state_dict", "arch"))
        model = build_model(ck["arch"], ds.x_train.shape[1:], ds.num_classes, ck["config"].get("model"))
        model.load_state_dict(ck["state_dict"])
        model.eval()
        mean = torch.tensor(ck["mean"], dtype=torch.float32)[None, :, None, None]
        std = torch.tensor(ck["std"], dtype=torch.float32)[None, :, None, None]

        @torch.no_grad()
        def feats(x):
            from memgen.train import prepare

            return torch.cat(
                [
                    features(model, prepare(torch.as_tensor(x[i : i + 1024]), mean, std))
                    for i in range(0, len(x), 1024)
                ]
            ).numpy()

        df = near_duplicates(feats(ds.x_train), feats(ds.tests["original"][0]), threshold)
    save_csv(out, pd.DataFrame(df))
    log.info("%s: %d test points listed as duplicates of training points", name, len(df))
