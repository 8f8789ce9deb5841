"""The leave-one-out planner (`memgen plan --loo-se`): how many points P and seed pairs M an exact
leave-one-out truth needs. M seed pairs train 1 model on all N points and 1 without each of P chosen
points, (1 + P) x M models; each rate's mean |score - LOO score| over P random points has standard error
sd(|error|) / sqrt(P), and each LOO score its own noise over the M pairs.
"""

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from memgen.errors import fail
from memgen.plan.study import check_rate
from memgen.scores.intervals import INTERVAL_DEFINITIONS

LOO_MEMBERS = 8  # M seed pairs when not given (config.yaml loo.members)
# without a finished study's loo rows: sd of |score - LOO score| over random points, the high end of the
# 0.06-0.12 measured on digits; and the sd of one seed pair's LOO score (jackknife se x sqrt(M)), 0.05-0.13
LOO_SD_ABS_ERROR = 0.12
LOO_PAIR_SD = 0.1


def loo_measured(ensemble_dir, definition: str = "frac") -> dict:
    """What a finished study measured of its leave-one-out truth, next to the ensemble folder (its
    sampling_bias.csv and loo.csv): `errors`, per ensemble (ensemble, rate, sd of |score - LOO score|,
    points) over the random points; `pair_sd`, one seed pair's LOO score sd (jackknife se x sqrt(M), the se
    without its floor: the root of `<d>_loo_var` where loo.csv has it) averaged over the random points;
    `sources`. Empty or None for files or rows it lacks."""
    where, errors, pair_sd, sources = Path(ensemble_dir).parent, [], None, []
    bias, loo = where / "sampling_bias.csv", where / "loo.csv"
    cols = ["ensemble", "rate", "std_abs_error", "n_points"]
    t = pd.read_csv(bias) if bias.is_file() else pd.DataFrame()
    if {*cols, "definition", "against", "points"} <= set(t.columns):
        t = t[(t["against"] == "loo") & (t["points"] == "random") & (t["definition"] == definition)]
        t = t[(t["n_points"] >= 2) & t["std_abs_error"].notna()]
        errors = [(str(e), float(r), float(sd), int(p)) for e, r, sd, p in t[cols].itertuples(index=False)]
        sources += [str(bias)] if errors else []
    t = pd.read_csv(loo) if loo.is_file() else pd.DataFrame()
    se = f"{definition}_loo_se"
    if {"chosen", "n_full", se} <= set(t.columns):
        t = t[(t["chosen"] == "random") & t[se].notna()]
        if f"{definition}_loo_var" in t.columns:  # the floored se would count the floor as noise
            t = t.assign(**{se: np.sqrt(t[f"{definition}_loo_var"])})
        if len(t):
            pair_sd = float((t[se] * np.sqrt(t["n_full"].astype(float))).mean())
            sources.append(str(loo))
    return {"errors": errors, "pair_sd": pair_sd, "sources": sources}


def loo_plan(
    se: float,
    n: int,
    rate: float,
    *,
    definition: str = "frac",
    loo_members: int = LOO_MEMBERS,
    minutes_per_member: float | None = None,
    measured: dict | None = None,
) -> dict:
    """Random points P and models for an exact leave-one-out truth. Each rate's mean |score - LOO score| over
    P random points has standard error sd(|error|) / sqrt(P) <= se: P = ceil((sd / se)^2), the largest over
    the rates `measured` (loo_measured) holds, else at LOO_SD_ABS_ERROR. (1 + P) x M models, each on all N
    points: a member at `rate` trains on rate x N, so a LOO model takes ~ minutes_per_member / rate. Each LOO
    score's own standard error over the M seed pairs is pair sd / sqrt(M), its 95 % interval +- t(M-1) se."""
    _check_loo(se, n, definition, loo_members, minutes_per_member)
    rate, measured = check_rate(rate), measured or {}
    errors = measured.get("errors") or [("default", math.nan, LOO_SD_ABS_ERROR, 0)]
    per_rate = [(*e, max(1, math.ceil((e[2] / se) ** 2 - 1e-9))) for e in errors]
    points = max(r[-1] for r in per_rate)
    if points > n:
        raise fail(
            f"a standard error of {se:g} needs {points:,} leave-one-out points, more than the N = {n:,} "
            "there are",
            "give a larger --loo-se",
        )
    models = (1 + points) * loo_members
    minutes = minutes_per_member / rate if minutes_per_member else None
    pair_sd = measured.get("pair_sd")
    truth_se = (LOO_PAIR_SD if pair_sd is None else pair_sd) / math.sqrt(loo_members)
    return {
        "points": points,
        "models": models,
        "minutes_per_model": minutes,
        "hours": models * minutes / 60.0 if minutes else None,
        "per_rate": per_rate,
        "truth_se": truth_se,
        "truth_half": float(stats.t.ppf(0.975, loo_members - 1)) * truth_se,
        "settings": {"se": se, "n": n, "rate": rate, "definition": definition, "members": loo_members}
        | {"measured_errors": bool(measured.get("errors")), "measured_pair_sd": pair_sd is not None}
        | {"sources": measured.get("sources", [])},
    }


def _check_loo(se, n, definition, loo_members, minutes) -> None:
    if not isinstance(se, (int, float)) or not 0.0 < se < 1.0:
        raise fail(f"--loo-se {se!r} is not in (0, 1)", "give the standard error wanted, e.g. --loo-se 0.01")
    if not isinstance(n, int) or n < 2:
        raise fail(f"dataset size {n!r} is not an integer >= 2", "give the number of training points, --n")
    if definition not in INTERVAL_DEFINITIONS:
        raise fail(f"definition {definition!r} is not planned", f"use one of {INTERVAL_DEFINITIONS}")
    if not isinstance(loo_members, int) or loo_members < 2:
        raise fail(
            f"--loo-members {loo_members!r} is below 2 seed pairs (no standard error over one)",
            "give M >= 2, e.g. --loo-members 8 (config.yaml loo.members)",
        )
    if minutes is not None and not minutes > 0:
        raise fail(f"minutes per member {minutes} is not > 0", "give the measured time of one member")


def format_loo_plan(result: dict) -> str:
    """The leave-one-out plan as text: target, sd of |error| per rate and its source, answer, LOO noise."""
    s = result["settings"]
    d, m, p = s["definition"], s["members"], result["points"]
    lines = [
        f"leave-one-out truth for {d}: N = {s['n']:,} points, M = {m} seed pairs (1 model on all N points "
        "and 1 without each chosen point, per seed)",
        f"target: standard error of each rate's mean |{d} - LOO {d}| over P random points <= {s['se']:g} "
        "(sd(|error|) / sqrt(P))",
    ]
    if s["measured_errors"]:
        lines.append(f"sd(|error|) measured in {s['sources'][0]} (loo rows, random points: rough when few)")
    else:
        lines.append(
            f"sd(|error|) {LOO_SD_ABS_ERROR:g}: a default, the high end of 0.06-0.12 measured on digits "
            "(--from an ensemble of a study with sampling_bias.csv uses its own)"
        )
    table = [["ensemble", "rate", "sd |error|", "points now", "P needed"]]
    table += [
        [e, "-" if math.isnan(r) else f"{r:g}", f"{sd:.3f}", str(k) if k else "-", str(need)]
        for e, r, sd, k, need in result["per_rate"]
    ]
    size = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines += ["", *("  ".join(c.rjust(w) for c, w in zip(row, size, strict=True)) for row in table), ""]
    hours = ""
    if result["hours"] is not None:
        hours = (
            f"; {result['hours']:.3g} device-hours (a LOO model trains on N points, 1 / r = "
            f"{1 / s['rate']:.3g} members' worth: {result['minutes_per_model']:.3g} min)"
        )
    lines.append(
        f"answer: P = {p:,} random points, (1 + P) x M = {result['models']:,} models on N points each{hours}"
    )
    lines.append("  (loo.top points come on top of P: M more models each)")
    where = (
        f"measured in {s['sources'][-1]}"
        if s["measured_pair_sd"]
        else f"a default pair sd of {LOO_PAIR_SD:g}"
    )
    lines.append(
        f"each LOO score's own noise at M = {m}: se {result['truth_se']:.3f} (pair sd / sqrt(M), {where}); "
        f"95 % interval +- t(0.975, {m - 1}) se = +-{result['truth_half']:.3f}"
    )
    return "\n".join(lines)
