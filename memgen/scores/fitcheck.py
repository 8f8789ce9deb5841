"""Does an ensemble fit the way its recipe should? A check run after members train, before any score is
trusted.

A score ensemble is only informative when its members learn their training points: Eq. 1/2 compare members
that trained on a point with members that did not, and the null (canaries) is only a null when members can
memorize at least some of what they are shown. Three things go wrong in practice, all cheap to see:
- members fit too few of their own natural training points (an underfit recipe: too few epochs, a step
  size far too small or far too large, too much weight decay);
- ReLU units die (never active on any training image), a sign of too large steps: a 768-input MLP at the
  8x8 digits' lr_peak 0.2 lost 114 of its 128 hidden units;
- the loss diverged (non-finite weights or outputs);
and the canaries: when members fit (almost) none of them the null sits at 0, τ = 0 and, since ties count,
every natural point would be "memorized".

Inputs are what the study already holds: correct.npz and masks.npz (every member, every point) for the fit,
and a few members' checkpoints run on a fixed sample of training images for dead units and finite weights.

What "fits" means depends on the recipe: digits and CIFAR members fit ~100 % of their own points, ImageNet
members under random-resized crops far fewer. The expectations are config `fitcheck`'s, per dataset and
architecture under `fitcheck.datasets` (memgen.params.fitcheck; configs/paper.yaml cites where its values come
from), so a healthy ensemble passes at every scale and a diverged (~chance) or dead one fails.
"""

import numpy as np

# Expected fit (config `fitcheck`, schemas/config.schema.yaml); the defaults, for callers without a config.
DEFAULTS = {
    # mean share of its own natural training points a member classifies correctly: digits and CIFAR fit
    # ~100 %; ImageNet under random-resized crops expects less (config fitcheck.datasets.<name>)
    "min_train_acc": 0.9,
    # share of a member's ReLU units (all layers pooled) that never fire, mean over checked members. Measured
    # (MLP, 128 units, 60 epochs, rate 0.95): digits 8x8 at lr_peak 0.2 ~1 %; a 16-px digits folder (768
    # inputs) at lr_peak 0.05 10-16 %, at 0.2 48-69 % (members 0-3 of the workflow: 128, 79, 74, 72 of 128)
    "max_dead_fraction": 0.25,
    # mean canary acc_in. Measured on the tiny study (digits, 32 units): 4 epochs 0.002-0.011, τ = 0 for
    # every ensemble; 12 epochs 0.026-0.059, τ > 0 (10-17 % of canaries fit at least once)
    "min_canary_acc_in": 0.02,
    "members": 4,  # members whose checkpoints are run (dead units, finite weights): slots 0.. of block 0
    "sample": 512,  # training images they are run on (a fixed seeded draw)
}
SAMPLE_SEED = 0xF17


def sample_indices(n: int, size: int) -> np.ndarray:
    """Sorted int64 training indices of the dead-unit sample: a seeded draw (an image folder lists points
    class by class, so the first `size` points would be one or two classes)."""
    size = min(int(size), int(n))
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(n, size=size, replace=False)).astype(np.int64)


def member_fit(mask: np.ndarray, correct: np.ndarray, canary: np.ndarray) -> dict:
    """Per member, the share of its own natural training points it classifies correctly (eval mode, against
    the scoring labels); per canary trained on, acc_in (the share of its in-members that fit it).

    mask, correct: bool [K, N]; canary: bool [N]. Returns {"train_acc": float [K] (NaN for a member with no
    natural training point), "canary_acc_in": float [n_canaries with n_in >= 1]}.
    """
    mask, correct, canary = np.asarray(mask, bool), np.asarray(correct, bool), np.asarray(canary, bool)
    own = mask & ~canary[None, :]
    n_own = own.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        train_acc = np.where(n_own > 0, (own & correct).sum(1) / n_own, np.nan)
        n_in = mask[:, canary].sum(0)
        canary_acc = (mask[:, canary] & correct[:, canary]).sum(0) / n_in
    return {"train_acc": train_acc.astype(float), "canary_acc_in": canary_acc[n_in > 0].astype(float)}


def dead_units(model, x, chunk: int = 256) -> list[dict]:
    """ReLU layers of `model` and how many of their units never fire on the (normalised) inputs `x`.

    A unit is a channel of a convolutional layer (active if positive anywhere in the map) or a feature of a
    dense one. Returns [{"layer", "units", "dead"}], one per ReLU module call in forward order (a module
    called twice, as torchvision's ResNet blocks do, counts as two layers).
    """
    import torch
    from torch import nn

    activations = (nn.ReLU, nn.ReLU6)  # output exactly 0 when inactive: "dead" is well defined
    model.eval()
    active: dict = {}
    calls: dict[str, int] = {}
    hooks = []

    def hook(name):
        def record(_module, _inp, out):
            i = calls.get(name, 0)
            calls[name] = i + 1
            o = out.detach()
            on = (o > 0).flatten(2).any(2) if o.dim() > 2 else o > 0  # [B, units]
            on = on.any(0).cpu()
            key = (name, i)
            active[key] = on if key not in active else active[key] | on

        return record

    for name, module in model.named_modules():
        if isinstance(module, activations):
            hooks.append(module.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            for start in range(0, len(x), chunk):
                calls.clear()
                model(x[start : start + chunk])
    finally:
        for h in hooks:
            h.remove()
    return [
        {"layer": name if i == 0 else f"{name}#{i}", "units": int(on.numel()), "dead": int((~on).sum())}
        for (name, i), on in active.items()
    ]


def finite_weights(state_dict: dict) -> bool:
    import torch

    return all(bool(torch.isfinite(v).all()) for v in state_dict.values() if torch.is_floating_point(v))


def _mean(values) -> float | None:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else None


def _stats(values) -> dict:
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if not v.size:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else None,
        "min": float(v.min()),
        "max": float(v.max()),
    }


def _with_dead_fraction(checked: list[dict]) -> list[dict]:
    """Each checked member with dead_fraction, the share of its ReLU units that never fire."""
    rows = []
    for c in checked:
        # all ReLU layers pooled, not the deadest one (docs/decisions.md: Dead units pooled over layers)
        units = sum(lay["units"] for lay in c["layers"])
        rows.append({**c, "dead_fraction": sum(lay["dead"] for lay in c["layers"]) / units if units else 0.0})
    return rows


def _dead_units_problem(rows: list[dict], dead: float, expect: dict) -> str:
    """The dead-unit problem, naming the deadest layer of the member with the most dead units."""
    worst = max(rows, key=lambda r: r["dead_fraction"])
    layer = max(worst["layers"], key=lambda lay: lay["dead"] / max(lay["units"], 1))
    return (
        f"dead ReLU units: on average {dead:.0%} of a checked member's ReLU units never fire on "
        f"{expect['sample']} training images (member {worst['member']}: {layer['dead']} of "
        f"{layer['units']} units of {layer['layer']}), above {expect['max_dead_fraction']:.0%}"
    )


def _underfit_problem(train: dict, expect: dict) -> str:
    got = "no member has natural training points" if train["mean"] is None else f"{train['mean']:.1%}"
    return (
        f"members fit {got} of their own natural training points on average "
        f"(min {train['min'] if train['min'] is None else format(train['min'], '.1%')}), "
        f"below {expect['min_train_acc']:.0%}"
    )


def _underfit_fix(lr, epochs, wd) -> str:
    # a recipe that cannot fit its training set (heavy augmentation) needs a lower bar, not more training
    bar = (
        "; or, if the recipe is healthy but augments heavily, lower fitcheck.datasets.<dataset>.min_train_acc"
    )
    return (
        f"train longer or harder: raise training.epochs (now {epochs}), raise training.lr_peak if "
        f"the loss barely moved (now {lr:g}), or lower training.weight_decay (now {wd:g})" + bar
        if None not in (lr, epochs, wd)
        else "raise training.epochs or lr_peak, or lower weight_decay" + bar
    )


def _canary_problem(canaries: dict, expect: dict) -> str:
    return (
        f"members fit almost none of the canaries they trained on (mean acc_in {canaries['mean']:.4f}, "
        f"below {expect['min_canary_acc_in']:g}): the null sits at 0, so τ = 0 would call every natural "
        "point memorized"
    )


def _canary_fix(epochs, wd) -> str:
    return (
        f"let members memorize: raise training.epochs (now {epochs}) or lower "
        f"training.weight_decay (now {wd:g}) or the augmentation (crop_padding)"
        if None not in (epochs, wd)
        else "raise epochs or lower weight_decay"
    )


def verdict(fit: dict, checked: list[dict], outputs_finite: bool, recipe: dict, expect: dict) -> dict:
    """Compare an ensemble with its expected fit. Returns the JSON-ready record of fit.json:

    ok (bool), problems [str] (empty when ok), fix (str or None), expect (the thresholds used),
    train_acc (spread over members of each member's accuracy on its own natural training points),
    canary_acc_in (spread over canaries), members_checked [{member, finite, layers [{layer, units, dead}],
    dead_fraction (its ReLU units of all layers pooled)}], dead_fraction (mean over checked members),
    outputs_finite, recipe (lr_peak, epochs, weight_decay as trained).

    fit: member_fit(); checked: per checked member {member, finite, layers}; outputs_finite: every member's
    label log-odds finite; recipe: the members' training config (from a checkpoint).
    """
    expect = {**DEFAULTS, **(expect or {})}
    train = _stats(fit["train_acc"])
    canaries = _stats(fit["canary_acc_in"])
    rows = _with_dead_fraction(checked)
    dead = _mean([r["dead_fraction"] for r in rows]) if rows else None
    lr, epochs, wd = recipe.get("lr_peak"), recipe.get("epochs"), recipe.get("weight_decay")
    diverged = not outputs_finite or any(not r["finite"] for r in rows)
    problems, fixes = [], []
    # likeliest cause first: too large steps, then too short training (docs/decisions.md: Fit check fix order)
    too_large = f"lower training.lr_peak (now {lr:g}; try {lr / 4:g})" if lr is not None else "lower lr_peak"
    if diverged:
        problems.append("the loss diverged: non-finite weights or outputs")
        fixes.append(too_large)
    if dead is not None and dead > expect["max_dead_fraction"]:
        problems.append(_dead_units_problem(rows, dead, expect))
        if too_large not in fixes:
            fixes.append(too_large)
    if train["mean"] is None or train["mean"] < expect["min_train_acc"]:
        problems.append(_underfit_problem(train, expect))
        if not fixes:
            fixes.append(_underfit_fix(lr, epochs, wd))
    if canaries["n"] and canaries["mean"] < expect["min_canary_acc_in"]:
        problems.append(_canary_problem(canaries, expect))
        if not fixes:
            fixes.append(_canary_fix(epochs, wd))
    return {
        "ok": not problems,
        "problems": problems,
        "fix": "; ".join(fixes) if fixes else None,
        "expect": expect,
        "train_acc": train,
        "canary_acc_in": canaries,
        "dead_fraction": dead,
        "outputs_finite": bool(outputs_finite),
        "members_checked": rows,
        "recipe": {"lr_peak": lr, "epochs": epochs, "weight_decay": wd},
    }


def reason(fit: dict) -> str | None:
    """One line for thresholds.json, logs and table notes: why the memorized set is undefined (None if ok)."""
    if fit.get("ok", True):
        return None
    text = "members do not fit as expected (fit check failed: " + "; ".join(fit["problems"]) + ")"
    return text + (f"; fix: {fit['fix']}" if fit.get("fix") else "")


def is_finite_array(a) -> bool:
    a = np.asarray(a)
    return bool(np.isfinite(a.astype(np.float32)).all()) if a.size else True
