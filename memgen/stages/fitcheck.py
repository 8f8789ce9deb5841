"""The fit check of one score ensemble (memgen.fitcheck), file to file: fit.json beside scores.csv."""

import logging
from pathlib import Path

import numpy as np
import torch

from memgen.errors import fail
from memgen.fitcheck import dead_units, finite_weights, is_finite_array, member_fit, sample_indices, verdict
from memgen.io import load_checkpoint, load_npz, save_json
from memgen.stream import FolderImages

log = logging.getLogger("memgen.stages")


def write_fitcheck(
    canaries_path, masks_path, correct_path, member_paths, out_path, params: dict, name: str, config=None
) -> dict:
    """fit.json of one ensemble (fields: memgen.fitcheck.verdict, plus dataset and the members checked).

    member_paths: outputs.npz of the members whose checkpoints (written beside them) are run on a fixed
    sample of training images; params: {"loader": the dataset's loader spec, "expect": config fitcheck}.
    """
    from memgen.models import build_model
    from memgen.stages.ensemble import dataset_from
    from memgen.stages.members import device
    from memgen.train import prepare

    canary = load_npz(canaries_path, ["canary"])["canary"].astype(bool)
    mask = load_npz(masks_path, ["mask"])["mask"].astype(bool)
    z = load_npz(correct_path, ["correct", "log_odds"])
    correct = z["correct"].astype(bool)
    if mask.shape != correct.shape or mask.shape[1] != len(canary):
        raise fail(
            f"{masks_path} masks {mask.shape}, {correct_path} holds {correct.shape}, "
            f"{canaries_path} {len(canary)} points: not one ensemble",
            f"rerun the scores rule: snakemake --forcerun {correct_path}",
        )
    fit = member_fit(mask, correct, canary)
    # Decision: a non-finite label log-odds in any member counts as divergence (float16 overflows only past
    # 65,504, which no member that trained sanely reaches).
    outputs_finite = is_finite_array(z["log_odds"])
    expect = params["expect"]
    checked, recipe, ds, x = [], {}, None, None
    dev = device()  # a GPU where the job has one: 4 ResNet-50s on 512 ImageNet images are slow on CPU
    for p in member_paths:
        ck = load_checkpoint(Path(p).with_name("checkpoint.pt"), required=("state_dict", "arch", "member"))
        cfg = ck.get("config", {})
        recipe = recipe or cfg
        rrc = bool(cfg.get("random_resized_crop", False))
        if ds is None:
            ds = dataset_from(params["loader"], name, config, rrc)
            idx = sample_indices(len(ds.y_train), expect["sample"])
            view = ds.x_train.evaluating(rrc) if isinstance(ds.x_train, FolderImages) else ds.x_train
            raw = torch.as_tensor(np.asarray(view[idx]))
            mean = torch.tensor(ck["mean"], dtype=torch.float32)[None, :, None, None]
            std = torch.tensor(ck["std"], dtype=torch.float32)[None, :, None, None]
            x = prepare(raw, mean, std).to(dev)
        model = build_model(ck["arch"], tuple(ds.x_train.shape[1:]), ds.num_classes, cfg.get("model"))
        model.load_state_dict(ck["state_dict"])
        model.to(dev)
        checked.append(
            {
                "member": int(ck["member"]),
                "finite": finite_weights(ck["state_dict"]),
                "layers": dead_units(model, x),
            }
        )
    out = verdict(fit, checked, outputs_finite, recipe, expect)
    save_json(out_path, {"dataset": name, **out})
    t, c = out["train_acc"], out["canary_acc_in"]
    log.info(
        "fit: members fit %s of their own natural training points (mean over %d members, min %s); "
        "canary acc_in mean %s; %s of ReLU units dead (mean over %d checked members)",
        _pct(t["mean"]),
        t["n"],
        _pct(t["min"]),
        "n/a" if c["mean"] is None else f"{c['mean']:.4f}",
        _pct(out["dead_fraction"]),
        len(checked),
    )
    if not out["ok"]:
        log.warning(
            "FIT CHECK FAILED for %s: %s. Fix: %s. Its memorized sets are reported undefined.",
            out_path,
            "; ".join(out["problems"]),
            out["fix"],
        )
    return {}


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"
