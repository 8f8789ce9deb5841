"""The scores stage's jobs, file to file: scores.csv and correct.npz from the members, the fit check
(fit.json),
thresholds.json and fdr.csv (their figures, Fig. 12 and 13: memgen.figures.jobs)."""

import logging

import numpy as np

from memgen.data.index import load_index
from memgen.errors import fail
from memgen.io import load_checkpoint, load_json, load_npz, save_csv, save_json, save_npz
from memgen.paths import member_checkpoint
from memgen.scores.compute import score_table
from memgen.scores.fdr import DEFAULT_Q, RULE, TEST_DEFINITIONS, fdr_table
from memgen.scores.fitcheck import (
    dead_units,
    finite_weights,
    is_finite_array,
    member_fit,
    sample_indices,
    verdict,
)
from memgen.scores.thresholds import (
    DEFAULT_MAX_SHARE,
    FIXED_RULE_DEFINITIONS,
    compute_thresholds,
    read_scores,
    scored,
)

log = logging.getLogger(__name__)


def _member_fit(canaries_path, masks_path, correct_path) -> tuple[dict, bool]:
    """member_fit() of one ensemble from its canaries, masks and correct.npz, and whether every member's
    label log-odds is finite."""
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
    # a non-finite log-odds is divergence (docs/decisions.md: Non-finite log-odds mean divergence)
    return fit, is_finite_array(z["log_odds"])


def _fit_sample(ck: dict, params: dict, name: str, config, rrc: bool, dev):
    """The dataset, and its fixed sample of training images normalised as the member in `ck` saw them."""
    import torch  # here, not at the top: the scores and thresholds jobs never need it

    from memgen.data.loaders import dataset_from
    from memgen.data.stream import FolderImages
    from memgen.ensemble.train import prepare

    ds = dataset_from(params["loader"], name, config, rrc)
    idx = sample_indices(len(ds.y_train), params["expect"]["sample"])
    view = ds.x_train.evaluating(rrc) if isinstance(ds.x_train, FolderImages) else ds.x_train
    raw = torch.as_tensor(np.asarray(view[idx]))
    mean = torch.tensor(ck["mean"], dtype=torch.float32)[None, :, None, None]
    std = torch.tensor(ck["std"], dtype=torch.float32)[None, :, None, None]
    return ds, prepare(raw, mean, std).to(dev)


def _check_members(member_paths, params: dict, name: str, config) -> tuple[list[dict], dict]:
    """Each member's checkpoint run on the sample: [{member, finite, layers}], and the first member's
    training config (the recipe)."""
    from memgen.ensemble.models import build_model
    from memgen.ensemble.train import device

    checked, recipe, ds, x = [], {}, None, None
    dev = device()  # a GPU where the job has one: 4 ResNet-50s on 512 ImageNet images are slow on CPU
    for p in member_paths:
        ck = load_checkpoint(member_checkpoint(p), required=("state_dict", "arch", "member"))
        cfg = ck.get("config", {})
        recipe = recipe or cfg
        rrc = bool(cfg.get("random_resized_crop", False))
        if ds is None:
            ds, x = _fit_sample(ck, params, name, config, rrc, dev)
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
    return checked, recipe


def _log_fit(out: dict, out_path, n_checked: int) -> None:
    """The fit check in the job's log: what members fit, and a warning when the check failed."""
    t, c = out["train_acc"], out["canary_acc_in"]
    log.info(
        "fit: members fit %s of their own natural training points (mean over %d members, min %s); "
        "canary acc_in mean %s; %s of ReLU units dead (mean over %d checked members)",
        _pct(t["mean"]),
        t["n"],
        _pct(t["min"]),
        "n/a" if c["mean"] is None else f"{c['mean']:.4f}",
        _pct(out["dead_fraction"]),
        n_checked,
    )
    if not out["ok"]:
        log.warning(
            "FIT CHECK FAILED for %s: %s. Fix: %s. Its memorized sets are reported undefined.",
            out_path,
            "; ".join(out["problems"]),
            out["fix"],
        )


def write_fitcheck(
    canaries_path, masks_path, correct_path, member_paths, out_path, params: dict, name: str, config=None
) -> dict:
    """fit.json of one ensemble (fields: memgen.scores.fitcheck.verdict, plus dataset and the members
    checked).

    member_paths: outputs.npz of the members whose checkpoints (written beside them) are run on a fixed
    sample of training images; params: {"loader": the dataset's loader spec, "expect": config fitcheck}.
    """
    fit, outputs_finite = _member_fit(canaries_path, masks_path, correct_path)
    expect = params["expect"]
    checked, recipe = _check_members(member_paths, params, name, config)
    out = verdict(fit, checked, outputs_finite, recipe, expect)
    save_json(out_path, {"dataset": name, **out})
    _log_fit(out, out_path, len(checked))
    return {}


def _pct(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def write_scores(
    canaries_path, masks_path, output_paths, out_scores, out_correct, index_path=None, interval_level=0.95
) -> None:
    """scores.csv from the members' predictions, and correct.npz: `correct` (bool K x N) and `log_odds`
    (the label's log-odds, float16 K x N, for confidence-based definitions and LiRA). The index gives each
    point's file (`path`, "" without one or without an index)."""
    from memgen.data.index import point_paths
    from memgen.ensemble.outputs import load_outputs

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
    # conf and lira read the float16 log-odds block by block (memgen.scores.compute._CHUNK points at a time)
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
        "(thresholds.json's regime says what the null does with them)",
        len(table),
        ai.mean(),
        *np.quantile(ai, [0.25, 0.5, 0.75]),
    )


# ---- tables ---------------------------------------------------------------------------------------------
def write_thresholds(
    scores_path, out_path, threshold: dict, dataset: str, arch: str, ensemble: str, fit_path=None
) -> None:
    """thresholds.json of one ensemble: τ per rule and definition, memorized-set sizes, the canaries'
    acc_in spread (`memgen.scores.thresholds.compute_thresholds`), the fit check's verdict (fit_path:
    fit.json), plus dataset, arch and ensemble. An undefined memorized set is logged as a warning with its
    reason.

    threshold: {alpha, tail, fixed_tau, min_out, require_interval, max_memorized_share, fdr_q,
    fdr_min_effect} (rule params). A set that rests on a tie is logged with what the tie is (`tau_ties.text`);
    the test rule's count is logged beside the null rule's.
    """
    fit = load_json(fit_path) if fit_path is not None else None
    out = compute_thresholds(
        read_scores(scores_path),
        threshold["alpha"],
        threshold["tail"],
        threshold["fixed_tau"],
        threshold["min_out"],
        fit,
        threshold.get("require_interval", False),
        threshold.get("max_memorized_share", DEFAULT_MAX_SHARE),
        threshold.get("fdr_q", DEFAULT_Q),
        threshold.get("fdr_min_effect", 0.0),
    )
    out = {"dataset": dataset, "arch": arch, "ensemble": ensemble, **out}
    save_json(out_path, out)
    notes = {
        r["note"]
        for rule, rules in out["rules"].items()
        for definition, r in rules.items()
        if r["n_memorized"] is None and not _by_design(rule, definition)
    }  # the fixed and test rules' absence for conf and lira is by design (memgen.scores.thresholds)
    for note in sorted(notes):
        log.warning("%s/%s/%s: %s", dataset, arch, ensemble, note)
    for rule, rules in out["rules"].items():
        for definition, r in rules.items():
            if (r.get("tau_ties") or {}).get("text"):
                log.info(
                    "%s/%s/%s %s rule, %s: %s",
                    dataset,
                    arch,
                    ensemble,
                    rule,
                    definition,
                    r["tau_ties"]["text"],
                )
    _log_test(out, f"{dataset}/{arch}/{ensemble}")


def _by_design(rule: str, definition: str) -> bool:
    """A rule that does not apply to a definition (fixed and test: counts only) is undefined by design."""
    return (rule == "fixed" and definition not in FIXED_RULE_DEFINITIONS) or (
        rule == RULE and definition not in TEST_DEFINITIONS
    )


def _log_test(out: dict, where: str) -> None:
    """The test rule's set beside the null rule's: its size, its power on the canaries, the overlap."""
    t = (out["rules"].get(RULE) or {}).get(TEST_DEFINITIONS[1]) or {}
    if t.get("n_memorized") is None:
        return
    null = out["rules"]["null"][TEST_DEFINITIONS[1]]
    log.info(
        "%s test rule (BH q = %g): %d natural points flagged (%s of the null rule's %s under frac); "
        "it flags %s of the scored canaries",
        where,
        t["q"],
        t["n_memorized"],
        "n/a" if t["n_in_null_set"] is None else t["n_in_null_set"],
        "undefined" if null["n_memorized"] is None else null["n_memorized"],
        _pct(t["canary_power"]),
    )


def write_fdr(scores_path, masks_path, correct_path, out_path, params: dict) -> dict:
    """fdr.csv of one ensemble (memgen.scores.fdr.FDR_COLUMNS): the test rule's set, share and canary power
    per level q, and the same test on fake masks (member rows permuted), where every flag is false.

    params: q (threshold.fdr_q), min_effect (threshold.fdr_min_effect), min_out, seed (the fake masks').
    Returns the provenance extra {"seeds": {"calibration": seed}}."""
    scores = read_scores(scores_path)
    mask = load_npz(masks_path, ["mask"])["mask"].astype(bool)
    correct = load_npz(correct_path, ["correct"])["correct"].astype(bool)
    ok = scored(scores, params["min_out"])
    table = fdr_table(scores, ok, mask, correct, params["q"], params["min_effect"], params["seed"])
    save_csv(out_path, table)
    row = table[table["configured"]].iloc[0]
    log.info(
        "test rule at q = %g: %d of %d natural points flagged, %s of canaries; on %d fake masks %.2f flagged "
        "on average, any flag on %s of them; %s of the flagged are fake when real and fake are pooled",
        row["q"],
        row["n_flagged"],
        row["n_tested"],
        _pct(None if np.isnan(row["canary_power"]) else row["canary_power"]),
        row["calib_draws"],
        row["calib_flagged_mean"],
        _pct(row["calib_any"]),
        _pct(row["calib_mixed_fdp"]),
    )
    return {"seeds": {"calibration": int(params["seed"])}}
