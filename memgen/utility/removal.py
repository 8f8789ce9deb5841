"""Removal sets of the utility study: the memorized points, an equally large random control (the paper's),
and a class-matched one (as many random points of each class as the memorized set holds, class_matched).

A removal set is chosen on one score ensemble (scores.csv + a threshold τ) and then used by utility
runs that train on the full training set with true labels minus the removed points (docs/decisions.md:
Utility runs on the full training set).
"""

import math

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.io import load_npz, save_npz
from memgen.scores.thresholds import check_columns, check_definition, memorized, scored

REMOVAL_KEYS = ("memorized", "random", "n_natural", "n_train", "reason")


def _natural(scores: pd.DataFrame) -> np.ndarray:
    if "canary" not in scores.columns:
        raise fail("scores table has no 'canary' column", "pass the scores.csv written by the scores rule")
    return ~scores["canary"].to_numpy().astype(bool)


def _empty_reason(
    scores: pd.DataFrame, definition: str, tau: float | None, min_out: int, selected=None
) -> str:
    """Why nothing is memorized, in words a table note can show."""
    if selected is not None:
        return "no natural point passes the test rule (thresholds.json rules.test: its note says why)"
    if tau is None or not math.isfinite(tau):
        return (
            f"threshold τ for {definition} is undefined (e.g. the null rule found no canary "
            f"with n_in >= 1 and n_out >= {min_out})"
        )
    s = scores[definition].to_numpy(dtype=float)
    usable = _natural(scores) & scored(scores, min_out)
    if not usable.any():
        return f"no natural point has a {definition} score with n_in >= 1 and n_out >= {min_out}"
    return (
        f"no natural point reaches τ = {tau:.4g} under {definition} "
        f"(highest natural score {np.nanmax(s[usable]):.4g})"
    )


def _memorized_natural(scores, definition, tau_f: float, min_out, require_interval, natural) -> np.ndarray:
    """Sorted int64 indices of the memorized natural points; none when τ is NaN (undefined or absent)."""
    n_train = len(scores)
    if math.isfinite(tau_f):
        is_mem = np.asarray(memorized(scores, definition, tau_f, min_out, require_interval), dtype=bool)
    else:
        is_mem = np.zeros(n_train, dtype=bool)
    if is_mem.shape != (n_train,):
        raise ValueError(f"memorized() returned shape {is_mem.shape}, expected ({n_train},)")
    return np.flatnonzero(is_mem & natural).astype(np.int64)


def _check_removable(m: int, n_train: int, n_natural: int, definition: str, tau_f: float) -> None:
    """Fails when removing m points leaves nothing to train on or no natural point for the random control."""
    if m >= n_train:
        raise fail(
            f"all {n_train} training points would be removed as memorized ({definition}, τ={tau_f:.4g}); "
            "a utility run would have nothing to train on",
            "raise the threshold (a lower α or the fixed rule) or check the scores",
        )
    if m >= n_natural:
        raise fail(
            f"{m} memorized points would be removed but only {n_natural} natural points exist to draw "
            f"the random control from ({definition}, τ={tau_f:.4g}); "
            "both conditions would remove the same points",
            "raise the threshold (a lower α or the fixed rule) so that fewer points count as memorized",
        )


def removal_sets(
    scores: pd.DataFrame,
    definition: str,
    tau: float | None,
    min_out: int,
    seed: int,
    undefined: str | None = None,
    require_interval: bool = False,
    selected: np.ndarray | None = None,
) -> dict:
    """The memorized set (natural points with score >= τ) and a seeded random set of the same size.

    undefined: why the memorized set is undefined (thresholds.json's note: the fit check failed, or the null
    sits at 0), or None. An undefined set removes nothing, like an empty one, and `reason` carries it, so
    the utility tables report it instead of training on a meaningless set.
    require_interval: the score's interval lower end must reach τ (memgen.scores.thresholds.memorized).
    selected: bool [N], the memorized set of a rule without τ (the test rule: memgen.scores.fdr), or None;
    τ is then not read.

    Returns dict: memorized int64 [m] (sorted training indices), random int64 [m] (sorted),
    n_natural, n_train, reason ("" when m > 0, otherwise why the memorized set is empty), and the
    inputs definition, tau (NaN when undefined), min_out, seed for provenance.
    Indices are positions in `scores` (= training indices: scores.csv rows are in dataset order).
    """
    check_definition(definition)
    check_columns(scores)
    natural = _natural(scores)
    n_train = len(scores)
    n_natural = int(natural.sum())
    tau_f = float("nan") if tau is None or undefined else float(tau)
    if selected is None:
        mem = _memorized_natural(scores, definition, tau_f, min_out, require_interval, natural)
    else:  # the test rule's set; an undefined one removes nothing
        chosen = np.asarray(selected, dtype=bool) & natural & (undefined is None)
        mem = np.flatnonzero(chosen).astype(np.int64)
    m = len(mem)
    _check_removable(m, n_train, n_natural, definition, tau_f)
    # The random control is a uniform draw from all natural points, so it may overlap the memorized
    # set: it is "an equal number of training points removed at random" (paper §4.1), not its complement.
    rng = np.random.default_rng(seed)
    rand = np.sort(rng.choice(np.flatnonzero(natural), size=m, replace=False)).astype(np.int64)
    return {
        "memorized": mem,
        "random": rand,
        "n_natural": n_natural,
        "n_train": n_train,
        "reason": undefined or ("" if m else _empty_reason(scores, definition, tau, min_out, selected)),
        "definition": definition,
        "tau": tau_f,
        "min_out": int(min_out),
        "seed": int(np.ravel(seed)[0]),
    }


def class_matched(scores: pd.DataFrame, memorized: np.ndarray, seed) -> np.ndarray:
    """The class-matched control: per class (true_label), as many natural points drawn at random as the
    memorized set holds of that class; sorted int64 training indices. Like the uniform control it may overlap
    the memorized set; a class whose natural points are all memorized gives them all back."""
    if len(memorized) == 0:
        return np.zeros(0, dtype=np.int64)
    if "true_label" not in scores.columns:
        raise fail(
            "scores table has no 'true_label' column", "pass the scores.csv written by the scores rule"
        )
    labels = scores["true_label"].to_numpy(dtype=np.int64)
    natural = _natural(scores)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels[np.asarray(memorized, dtype=np.int64)], return_counts=True)
    drawn = [
        rng.choice(np.flatnonzero(natural & (labels == c)), size=k, replace=False)
        for c, k in zip(classes, counts, strict=True)
    ]
    return np.sort(np.concatenate([np.zeros(0, np.int64), *drawn])).astype(np.int64)


def save_removal(path, sets: dict) -> None:
    """Write a removal set as .npz: memorized, random (int64), n_natural, n_train, min_out, seed (int64
    scalars), tau (float64), reason and definition (unicode strings)."""
    save_npz(
        path,
        memorized=np.asarray(sets["memorized"], dtype=np.int64),
        random=np.asarray(sets["random"], dtype=np.int64),
        n_natural=np.int64(sets["n_natural"]),
        n_train=np.int64(sets["n_train"]),
        reason=np.str_(sets["reason"]),
        definition=np.str_(sets.get("definition", "")),
        tau=np.float64(sets.get("tau", float("nan"))),
        min_out=np.int64(sets.get("min_out", -1)),
        seed=np.int64(sets.get("seed", -1)),
        random_by_seed=np.asarray(
            sets.get("random_by_seed", np.asarray(sets["random"])[None]), dtype=np.int64
        ),
        # the class-matched control, per utility seed (absent: a set saved before it existed)
        **(
            {"random_class_by_seed": np.asarray(sets["random_class_by_seed"], dtype=np.int64)}
            if "random_class_by_seed" in sets
            else {}
        ),
        # each removed point's file (memgen.data.index.point_paths; "" without one), beside its index
        **{
            f"{k}_path": np.asarray(sets[f"{k}_path"], dtype=str).reshape(-1)
            for k in ("memorized", "random")
            if f"{k}_path" in sets
        },
    )


def load_removal(path) -> dict:
    """Read what save_removal wrote back into the dict removal_sets returns."""
    z = load_npz(path, keys=REMOVAL_KEYS)
    out = {"memorized": z["memorized"].astype(np.int64), "random": z["random"].astype(np.int64)}
    for k in ("random_by_seed", "random_class_by_seed"):
        if k in z:
            out[k] = z[k].astype(np.int64)
    for k in ("n_natural", "n_train", "min_out", "seed"):
        if k in z:
            out[k] = int(z[k])
    for k in ("reason", "definition"):
        if k in z:
            out[k] = str(z[k])
    for k in ("memorized_path", "random_path"):
        if k in z:
            out[k] = z[k].astype(str)
    if "tau" in z:
        out["tau"] = float(z["tau"])
    return out


def keep_indices(n_train: int, removed: np.ndarray) -> np.ndarray:
    """Sorted int64 training indices a utility run trains on: every point except the removed ones."""
    removed = np.asarray(removed, dtype=np.int64).ravel()
    if removed.size and (removed.min() < 0 or removed.max() >= n_train):
        raise fail(
            f"removal set holds indices outside the training set [0, {n_train})",
            "the removal set was made for another dataset; rerun the removal rule for this one",
        )
    keep = np.ones(n_train, dtype=bool)
    keep[removed] = False
    if not keep.any():
        raise fail(
            f"removing {removed.size} points leaves none of {n_train} to train on", "remove fewer points"
        )
    return np.flatnonzero(keep).astype(np.int64)
