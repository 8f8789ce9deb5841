"""Stage 2, file to file: masks and score-ensemble members, each member writing a checkpoint and its compact
per-point outputs (memgen.ensemble.outputs). `train_and_save` and `job_inputs` also serve stage 5's utility
runs (memgen.utility.run_jobs).

A member's identity is (dataset, arch, ensemble, k) with k = block * block_size + slot; its files live in
members/{block}/{slot}/ however many members a job trains (config shard_size), and its seed derives from
the master seed and k alone. The job's run-only settings (checkpoint interval, batching) come from the
config, not from the rule's params, so changing them never marks a member out of date.
"""

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import memgen.config as mc
from memgen.config import check_mask_spec
from memgen.data.index import load_index
from memgen.data.loaders import dataset_from
from memgen.ensemble.masks import block
from memgen.ensemble.masks import block as mask_block
from memgen.ensemble.outputs import compact, save_outputs
from memgen.errors import fail
from memgen.io import load_npz, save_checkpoint, save_npz
from memgen.preempt import stop_on_signals
from memgen.recipe import TrainConfig

if TYPE_CHECKING:
    from memgen.ensemble.train import Job

log = logging.getLogger(__name__)


def slots_of(paths: list[str]) -> list[int]:
    """Slot of each member file .../members/{block}/{slot}/<file>, from its folder name."""
    try:
        return [int(Path(p).parent.name) for p in paths]
    except ValueError:
        raise fail(
            f"member files {paths[:2]}... are not under members/<block>/<slot>/", "use the workflow's paths"
        ) from None


def train_and_save(
    ds,
    labels,
    eval_sets,
    indices,
    seeds,
    ids,
    arch,
    cfg: TrainConfig,
    ckpts,
    outputs,
    resume,
    full_logits,
    extra=None,
) -> dict:
    """Train one job's models; write each one's checkpoint (weights + the config that made it) and outputs.

    eval_sets: name -> (uint8 images, labels the compact outputs are taken against)."""
    from memgen.ensemble.train import Job, device, train  # torch: here, so the masks job never loads it

    job = Job(ds.x_train, labels, indices, seeds, arch, ds.num_classes, ds.mean, ds.std)
    dev = device()
    # a SIGTERM from SLURM (time limit, requeue, preemption) saves the resume state and stops (memgen.preempt)
    with stop_on_signals() as stop:
        results = train(job, cfg, dev, Path(resume), stop=stop)
    for k, res in enumerate(results):
        sets = {
            name: evaluate(job, cfg, res["state_dict"], x, y, dev, full_logits)
            for name, (x, y) in eval_sets.items()
        }
        state = {"state_dict": res["state_dict"], "config": cfg.to_dict(), "recipe": cfg.recipe(dev)}
        state |= {"device": dev, "seed": int(seeds[k]), "member": int(ids[k]), "epoch": cfg.epochs}
        state |= {"arch": arch, "num_classes": ds.num_classes, "mean": ds.mean.tolist()}
        save_checkpoint(ckpts[k], {**state, "std": ds.std.tolist(), **(extra or {})})
        # outputs last: the checkpoint beside them is undeclared, so it must be complete before they exist
        save_outputs(outputs[k], sets, seed_id=np.int64(ids[k]), member=np.int64(ids[k]))
    Path(resume).unlink(missing_ok=True)  # finished: the resumable state has served its purpose
    return {"device": dev, "seeds": {str(i): int(s) for i, s in zip(ids, seeds, strict=True)}}


def evaluate(
    job: "Job", cfg: TrainConfig, state_dict: dict, x, y, dev: str, full_logits: bool = False
) -> dict:
    """Compact outputs (memgen.ensemble.outputs.compact) of a model on (x, y), and its float16 logits
    when asked: chunk by chunk, as compact() of a chunk equals those rows of compact() of the whole set."""
    from memgen.ensemble.train import predict_chunks  # torch: here, so the masks job never loads it

    parts, full, start = [], [], 0
    for logits in predict_chunks(job, cfg, state_dict, x, dev):
        parts.append(compact(logits, y[start : start + len(logits)]))
        start += len(logits)
        if full_logits:
            full.append(logits.numpy().astype(np.float16))
    out = {f: np.concatenate([p[f] for p in parts]) for f in parts[0]}
    if full_logits:
        out["logits"] = np.concatenate(full)
    return out


def job_inputs(config, name, arch, params, ens=None):
    """The recipe (config `training`, with the job's run-only keys) and the dataset, read once per job."""
    cfg = TrainConfig.from_dict(mc.training(config, name, arch, ens))
    return cfg, dataset_from(params["loader"], name, config, cfg.random_resized_crop)


def write_members(config, name, arch, ens, block, paths: dict, params: dict, ckpts, outputs) -> dict:
    """Train slots `slots_of(outputs)` of mask block `block` of ensemble `ens`.

    paths: index, canaries. params: the rule's (the member's identity), its mask spec included: the job
    draws its block's rows itself (memgen.ensemble.masks.block, from seed, block index, rate and size
    alone), exactly as the masks rule does, so no mask-block job or file stands between them."""
    cfg, ds = job_inputs(config, name, arch, params, ens)
    labels = load_npz(paths["canaries"], ["label"])["label"]
    n = load_index(paths["index"])["n"]
    if not n == len(labels) == len(ds.y_train):
        raise fail(
            f"the index {paths['index']} has {n} points, the canaries {len(labels)}, the dataset "
            f"{len(ds.y_train)}",
            "rerun the dataset's rules: snakemake --forcerun " + paths["index"],
        )
    spec = params["masks"]
    check_mask_spec(spec["rate"], spec["block_size"], spec["block_size"])
    rows = mask_block(spec["seed"], block, spec["block_size"], n, spec["rate"])
    slots = slots_of(outputs)
    ids = [block * spec["block_size"] + s for s in slots]
    seeds = [mc.member_seed({"seed": params["seed"]}, name, arch, ens, k) for k in ids]
    indices = [np.flatnonzero(rows[s]) for s in slots]
    resume = Path(outputs[0]).parents[1] / f"resume-{slots[0]}.pt"  # per job: a slice of the block
    eval_sets = {"train": (ds.x_train, labels), "test_original": ds.tests["original"]}
    return train_and_save(
        ds,
        labels,
        eval_sets,
        indices,
        seeds,
        ids,
        arch,
        cfg,
        ckpts,
        outputs,
        resume,
        params["full_logits"],
    )


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
