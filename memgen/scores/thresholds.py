"""Thresholds on memorization scores (paper Eq. 3) and the memorized set they select.

The null is the score distribution of the canaries (randomly relabelled points, which can only be
fit by memorization). Two rules pick τ: the null rule (a quantile of the null) and the fixed rule of
the original setup (e.g. fz ≥ 0.25). A natural point is memorized when its score is ≥ τ.

What thresholds.json says beyond τ and the count: where the set is undefined and why (a failed fit check; a
null rule τ ≤ 0 or one that would flag more than `threshold.max_memorized_share` of the natural points), what
the null does (`regime`: saturated within one score step of the top, partly fit, at or near 0), and where τ
rests on a tie (`tau_ties`): how many points score exactly τ, what they share with the canaries there, the
strict reading's count (score > τ) and the continuous definitions' (conf, lira) verdict on the tied points.
"""

import math

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.io import read_csv
from memgen.scores import fdr
from memgen.scores.compute import CONFIDENCE_DEFINITIONS, DEFINITIONS
from memgen.scores.fitcheck import reason
from memgen.scores.fragility import fragile_counts
from memgen.scores.intervals import INTERVAL_DEFINITIONS

TAILS = ("upper", "lower")
# fz and frac are differences of accuracies in [0, 1], normalised or not; conf is Eq. 2 on probabilities in
# [0, 1]; lira is t / sqrt(1 + t^2) in (-1, 1) (memgen.scores.compute): no score of any definition exceeds 1.
MAX_SCORE = 1.0
# The regime's "top": a continuous score (conf, lira) within TOP_EPSILON of MAX_SCORE (lira >= 0.995 is a
# separation t >= 10 sd; conf >= 0.995: held-out members give the label < 0.25 % of in-members' probability)
TOP_EPSILON = 0.005
# config threshold.max_memorized_share: a null-rule τ flagging more natural points separates nothing
DEFAULT_MAX_SHARE = 0.5
# what points tied at the top score share, per definition ({them}/{their}: plural or one point)
TOP_TIE_WORDS = {
    "frac": "no held-out member gets {them} right",
    "fz": "every member that trained on {them} gets {them} right and no held-out member does",
    "conf": "held-out members give {their} label a probability of 0 (to float precision)",
    "lira": "members that trained on {them} and those that did not separate beyond float precision",
}
# The fixed rule (the original work's fz > 0.25) is a threshold on counts of correct members: it applies to
# fz and frac (the ablation's variants) only; conf and lira have no such convention, only the null rule.
FIXED_RULE_DEFINITIONS = ("fz", "frac")
# every reader needs these; conf and lira are checked where they are read (thresholds.json, definitions.csv)
REQUIRED_COLUMNS = ("canary", "n_in", "n_out", "acc_in", "fz", "frac")


def null_threshold(null_scores: np.ndarray, alpha: float, tail: str) -> float:
    """τ from the canaries' scores. NaN scores are dropped; an empty null gives NaN.

    tail "upper": τ = Quantile_{1-α}(null) (Eq. 3 as published): the smallest null score t with
        fraction(null ≤ t) ≥ 1 − α.
    tail "lower": τ = Quantile_α(null) read as "the level 1 − α of canaries reach": the largest null
        score t with fraction(null ≥ t) ≥ 1 − α. With the ≥ rule this is exactly the 95 %-TPR operating
        point of `definitions.fpr_at_tpr` (α = 0.05) on the same canaries.

    Interpolation: none (Hyndman & Fan type 1, the inverse of the empirical CDF, mirrored for the
    lower tail). Scores are ratios of member counts, so they are discrete with many ties; an
    interpolated τ would be a score no point can have, and would not give the guarantee above
    (that at least 1 − α of the canaries lie on the stated side of τ, ties included).
    """
    if tail not in TAILS:
        raise fail(
            f"threshold tail {tail!r} is not one of {TAILS}", "set the threshold tail to 'upper' or 'lower'"
        )
    if not (isinstance(alpha, (int, float)) and 0.0 < alpha < 1.0):
        raise fail(
            f"threshold alpha {alpha!r} is not a number strictly between 0 and 1", "set e.g. alpha: 0.05"
        )
    null = np.asarray(null_scores, dtype=float).ravel()
    null = np.sort(null[~np.isnan(null)])
    n = null.size
    if n == 0:
        return math.nan
    # k = ceil((1 − α)·n), the 1-based rank; the epsilon keeps e.g. 0.95·20 = 19 from rounding up to 20.
    k = max(1, math.ceil((1.0 - alpha) * n - 1e-9))
    return float(null[k - 1] if tail == "upper" else null[::-1][k - 1])


def check_columns(scores: pd.DataFrame, columns=REQUIRED_COLUMNS) -> None:
    missing = [c for c in columns if c not in scores.columns]
    if missing:
        raise fail(
            f"score table lacks columns {missing} (has {list(scores.columns)})",
            "pass a scores.csv made by the scores rule (docs/artifacts.md)",
        )


def check_definition(definition: str) -> None:
    if definition not in DEFINITIONS:
        raise fail(f"definition {definition!r} is not one of {DEFINITIONS}", f"use one of {DEFINITIONS}")


def scored(scores: pd.DataFrame, min_out: int) -> np.ndarray:
    """bool [N]: points that get a score: trained on by ≥ 1 member, held out by ≥ min_out members,
    and with fz and frac defined: one set for every definition, so they are compared on the same points
    (docs/decisions.md: One scored set for all definitions)."""
    check_columns(scores, ("n_in", "n_out", "fz", "frac"))
    return (
        (scores["n_in"].to_numpy() >= 1)
        & (scores["n_out"].to_numpy() >= min_out)
        & scores["fz"].notna().to_numpy()
        & scores["frac"].notna().to_numpy()
    )


def null_and_natural(scores: pd.DataFrame, min_out: int) -> tuple[np.ndarray, np.ndarray]:
    """bool [N] each: the scored canaries (the null) and the scored natural points."""
    ok = scored(scores, min_out)
    canary = scores["canary"].to_numpy().astype(int) == 1
    return ok & canary, ok & ~canary


def score_groups(scores: pd.DataFrame, definitions, min_out: int) -> dict[str, dict[str, np.ndarray]]:
    """{definition: {"null": canaries' scores, "natural": natural points' scores}} over the scored points
    (NaN kept), for `definitions` (one name or several) that have a score anywhere: conf and lira are NaN
    everywhere in a table made without log-odds; the first definition stays when none has one."""
    definitions = [definitions] if isinstance(definitions, str) else list(definitions)
    null, natural = null_and_natural(scores, min_out)
    shown = [d for d in definitions if scores[d].notna().any()] or definitions[:1]
    groups = {}
    for d in shown:
        values = scores[d].to_numpy(dtype=float)
        groups[d] = {"null": values[null], "natural": values[natural]}
    return groups


def memorized(
    scores: pd.DataFrame,
    definition: str,
    tau: float,
    min_out: int,
    require_interval: bool = False,
    strict: bool = False,
) -> np.ndarray:
    """bool [N]: natural points (canary == 0), scored (n_in ≥ 1, n_out ≥ min_out) with score ≥ τ.

    Ties at τ count: under Eq. 2 τ is often exactly 1.0 (docs/decisions.md: Ties at τ count). A NaN τ or a
    NaN score is never memorized.
    require_interval: the lower end of the score's interval (`<definition>_lo`, memgen.scores.intervals) must
    reach τ instead of the score itself. strict: score > τ (the paper's reading, reported beside the set).
    """
    check_definition(definition)
    check_columns(scores, ("canary", "n_in", "n_out", "fz", "frac", definition))  # what scored() and τ read
    tau = math.nan if tau is None else float(tau)
    if math.isnan(tau):
        return np.zeros(len(scores), dtype=bool)
    natural = scores["canary"].to_numpy().astype(int) == 0
    values = scores[_selected_column(scores, definition, require_interval)].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        high = values > tau if strict else values >= tau
    return natural & scored(scores, min_out) & high  # NaN >= τ is False


def _selected_column(scores: pd.DataFrame, definition: str, require_interval: bool) -> str:
    """The column compared with τ; a definition without an interval (conf, lira) keeps its point estimate
    (docs/decisions.md: Point estimates under require_interval)."""
    if not require_interval or definition not in INTERVAL_DEFINITIONS:
        return definition
    check_columns(scores, (f"{definition}_lo",))
    return f"{definition}_lo"


def _interval_counts(scores, definition, tau, min_out, require_interval, n_mem) -> dict:
    """Both selections side by side: natural points whose score reaches τ (`n_memorized_point`) and whose
    interval's lower end does (`n_memorized_interval`, None for a definition without an interval); and
    the note when the option alone empties the set."""
    has = definition in INTERVAL_DEFINITIONS and f"{definition}_lo" in scores.columns
    point = int(memorized(scores, definition, tau, min_out).sum())
    out = {
        "interval": has,
        "n_memorized_point": point,
        "n_memorized_interval": int(memorized(scores, definition, tau, min_out, True).sum()) if has else None,
    }
    if require_interval and has and n_mem == 0 and point > 0:
        out["note"] = (
            f"no natural point's interval lower end ({definition}_lo) reaches tau {tau:.3g}, though {point} "
            "score >= tau (threshold.require_interval: true)"
        )
    return out


def _json_float(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _summary(values: np.ndarray) -> dict:
    """n, mean, std (sample, ddof = 1), min, quartiles, max; None where undefined."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {"n": 0, **{k: None for k in ("mean", "std", "min", "q25", "median", "q75", "max")}}
    q25, median, q75 = np.quantile(v, [0.25, 0.5, 0.75])  # descriptive only: numpy's default (linear)
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else None,
        "min": float(v.min()),
        "q25": float(q25),
        "median": float(median),
        "q75": float(q75),
        "max": float(v.max()),
    }


def _note(
    rule: str, tau: float, null: np.ndarray, natural_scores: np.ndarray, n_memorized: int, min_out: int
):
    """Why the memorized set is empty (None when it is not)."""
    if rule == "null" and null.size == 0:
        return (
            f"no canaries scored (none has n_in >= 1 and n_out >= {min_out}): null undefined, "
            "so tau is undefined and no point is memorized"
        )
    if math.isnan(tau):
        return "tau is undefined, so no point is memorized"
    if n_memorized > 0:
        return None
    if natural_scores.size == 0:
        return f"no natural point is scored (n_in >= 1 and n_out >= {min_out}), so none can be memorized"
    top = float(natural_scores.max())
    if tau > MAX_SCORE:
        return f"tau {tau:g} exceeds the highest attainable score {MAX_SCORE:g}, so no point can reach it"
    if tau == MAX_SCORE and rule == "null":
        share = float(np.mean(null == MAX_SCORE))
        return (
            f"tau equals the highest attainable score {MAX_SCORE:g}: {share:.0%} of the canaries are fully "
            f"memorized (score {MAX_SCORE:g}), and no natural point reaches it "
            f"(highest natural score {top:.3g})"
        )
    return f"no natural point scores >= tau {tau:.3g} (highest natural score {top:.3g})"


def tau_ties(tau: float, null: np.ndarray, natural_scores: np.ndarray) -> dict:
    """How many scored canaries and natural points score exactly τ. `rests_on_ties`: a natural point scores
    exactly τ, so the memorized set depends on ties counting (score ≥ τ; the strict reading drops it); e.g.
    under Eq. 2 every point fit and never right when held out scores exactly 1.0, and τ = 1.0 is their tie.
    Canaries tied among themselves alone move no natural point (docs/decisions.md: Sets that rest on a tie).
    `canary_share`: the share of scored canaries at τ (None without any)."""
    canaries, natural = int(np.sum(null == tau)), int(np.sum(natural_scores == tau))
    return {
        "canaries": canaries,
        "natural": natural,
        "rests_on_ties": natural >= 1,
        "canary_share": canaries / null.size if null.size else None,
    }


def tie_words(definition: str, tau: float, one: bool = False) -> str | None:
    """What points tied at τ have in common, in words (None where τ is not the top score, whose meaning is
    only "the same score"): under frac at τ = 1, "no held-out member gets them right". one: of one point."""
    if tau is None or float(tau) < MAX_SCORE or definition not in TOP_TIE_WORDS:
        return None
    return TOP_TIE_WORDS[definition].format(them="it" if one else "them", their="its" if one else "their")


def tie_text(ties: dict | None, tau: float, n_memorized: int, n_strict: int) -> str | None:
    """One sentence on a memorized set that rests on a tie (None when it does not): how many of its points
    score exactly τ and what they share with the canaries there, the strict reading's count (score > τ), and
    the continuous definitions' verdict on the tied points (`ties["others"]`)."""
    if not ties or not ties.get("rests_on_ties") or not ties.get("in_set"):
        return None
    k = ties["in_set"]
    like = f"{100 * ties['canary_share']:.0f} % of canaries" if ties.get("canaries") else None
    if ties.get("shared"):
        what = f"score exactly tau = {tau:g} ({ties['shared']}" + (f", like {like})" if like else ")")
    else:
        what = f"score exactly tau = {tau:g}" + (f", as {like} do" if like else " (no canary does)")
    text = (
        f"the memorized set rests on a tie: {k} of its {n_memorized} points {what}; "
        f"the strict reading (score > tau) memorizes {n_strict}"
    )
    others = ties.get("others") or {}
    if others:
        verdicts = [f"{d} is undefined" if n is None else f"{d} memorizes {n}" for d, n in others.items()]
        text += f"; of these {k} tied points, " + " and ".join(verdicts)
    return text


def _flagged_share(tau: float, selected: np.ndarray) -> float | None:
    """Share of the natural points scored that the set would hold: `selected` is what `memorized` compares
    with τ (the score, or under require_interval its interval's lower end, `_selected_column`), one value
    per natural point scored. None when none is scored or τ is NaN."""
    if math.isnan(tau) or selected.size == 0:
        return None
    return float(np.mean(selected >= tau))  # NaN >= τ is False: an undefined lower end flags nothing


def at_top(definition: str, values: np.ndarray, n_out: np.ndarray) -> np.ndarray:
    """bool: scores within one score step of the top score MAX_SCORE. A count score's (fz, frac) step is one
    held-out member: at or above the score of acc_in = 1 with one of the point's own n_out held-out members
    right (fz 1 - 1/n_out, frac (n_out - 1)/(n_out + 1)); a continuous score's (conf, lira) is TOP_EPSILON."""
    v = np.asarray(values, dtype=float)
    if definition in CONFIDENCE_DEFINITIONS:
        return v >= MAX_SCORE - TOP_EPSILON
    a_out = 1.0 / np.maximum(np.asarray(n_out, dtype=float), 1.0)
    step_below = 1.0 - a_out if definition == "fz" else (1.0 - a_out) / (1.0 + a_out)  # Eq. 1 / Eq. 2
    return v >= step_below - 1e-9  # count scores are rounded to 12 digits (memgen.scores.compute)


def null_regime(
    null: np.ndarray, tau: float, flagged: float | None, max_share: float, top: np.ndarray | None = None
) -> dict:
    """What the null of one definition does (the null rule's τ, before any fit check): `kind` is "empty" (no
    canary scored), "at_zero" (τ ≤ 0), "saturated" (τ is the score of a canary within one step of the top,
    `at_top`: the set is only the natural points as extreme as those canaries), "low" (τ flags more than
    max_share of the natural points) or "partly" (canaries partly fit: the paper's regime); with the share of
    canaries at the top (`top`: `at_top` per canary; None: score = MAX_SCORE) and at or below 0. Saturated
    is checked before low: a τ at the top is never "barely above 0" (docs/decisions.md: The regime from the
    null).
    """
    n = int(null.size)
    top = null >= MAX_SCORE if top is None else np.asarray(top, dtype=bool)
    if not n or math.isnan(tau):
        kind = "empty"
    elif tau <= 0:
        kind = "at_zero"
    elif tau >= MAX_SCORE or top[null == tau].any():
        kind = "saturated"
    elif flagged is not None and flagged > max_share:
        kind = "low"
    else:
        kind = "partly"
    return {
        "kind": kind,
        "tau": _json_float(tau),
        "n": n,
        "top_share": float(np.mean(top)) if n else None,
        "zero_share": float(np.mean(null <= 0)) if n else None,
        "flagged_share": flagged,
    }


def undefined_reason(
    rule: str,
    tau: float,
    fit: dict | None,
    flagged: float | None = None,
    max_share: float = DEFAULT_MAX_SHARE,
) -> str | None:
    """Why a rule's memorized set is undefined (None when it is defined).

    - The ensemble failed its fit check (memgen.scores.fitcheck): its scores are untrusted, whatever τ.
    - The null rule gives τ <= 0: τ = 0 would call every point its members fit no better in than out
      memorized (docs/decisions.md: A null at zero leaves the set undefined).
    - The null rule's τ flags more than max_share of the natural points scored (`flagged`): a null barely
      above 0 separates nothing (docs/decisions.md: A null that flags most points).
    """
    why = reason(fit) if fit else None
    if why:
        return f"memorized set undefined: {why}"
    if rule != "null" or math.isnan(tau):
        return None
    if tau <= 0:
        return (
            f"memorized set undefined: the null sits at {tau:g} (members fit almost none of the canaries "
            "they trained on), so tau <= 0 would call every natural point memorized; "
            "fix: a recipe that lets members memorize (more epochs, less weight decay or augmentation)"
        )
    if flagged is not None and flagged > max_share:
        return (
            f"memorized set undefined: the null's tau {tau:.3g} would flag {100 * flagged:.0f} % of the "
            f"natural points scored, above threshold.max_memorized_share ({100 * max_share:.0f} %): members "
            "fit few canaries better than natural points, so the null separates nothing; fix: a recipe that "
            "lets members memorize (more epochs, less weight decay or augmentation)"
        )
    return None


def _fit_summary(fit: dict | None) -> dict | None:
    """The fit check's verdict as thresholds.json carries it (the whole record is fit.json)."""
    if fit is None:
        return None
    return {
        "ok": bool(fit["ok"]),
        "reason": reason(fit),  # one line: what failed and the fix (None when ok)
        "problems": list(fit["problems"]),
        "fix": fit.get("fix"),
        "train_acc_mean": fit["train_acc"]["mean"],
        "dead_fraction": fit["dead_fraction"],
        "canary_acc_in_mean": fit["canary_acc_in"]["mean"],
    }


def _undefined_note(
    rule: str, definition: str, tau: float, fit: dict | None, flagged, max_share
) -> str | None:
    """Why the memorized set of this rule and definition is undefined, or None when it is defined."""
    undefined = undefined_reason(rule, tau, fit, flagged, max_share)
    # a failed fit check is the reason a user must act on first, so it wins over this one
    if rule == "fixed" and definition not in FIXED_RULE_DEFINITIONS and not undefined:
        undefined = (
            f"memorized set undefined: the fixed rule (the original work's threshold on counts of "
            f"correct members) applies to {' and '.join(FIXED_RULE_DEFINITIONS)} only; "
            f"fix: use the null rule for {definition}"
        )
    return undefined


def _undefined_record(note: str) -> dict:
    return {
        "tau": None,
        "n_memorized": None,
        "n_memorized_strict": None,
        "fraction_memorized": None,
        "note": note,
        "tau_ties": None,
    }


def _rule_record(scores, rule, definition, tau, null, natural_scores, min_out, require_interval) -> dict:
    """One rule's entry for one definition: τ, the memorized set's size (ties counted, and strict: score >
    τ) and share of the natural points scored (natural_scores), the note, the interval counts, τ's ties."""
    n_natural_scored = natural_scores.size
    eligible = (scores["canary"].to_numpy().astype(int) == 0) & scored(scores, min_out)
    selected = memorized(scores, definition, tau, min_out, require_interval)
    n_mem = int(selected.sum())
    return {
        "tau": _json_float(tau),
        "n_memorized": n_mem,
        "n_memorized_strict": int(memorized(scores, definition, tau, min_out, require_interval, True).sum()),
        "fraction_memorized": n_mem / n_natural_scored if n_natural_scored else None,
        "note": _note(rule, tau, null, natural_scores, n_mem, min_out),
        **_interval_counts(scores, definition, tau, min_out, require_interval, n_mem),
        "tau_ties": None if math.isnan(tau) else tau_ties(tau, null, natural_scores),
        # points one held-out member's flip moves across τ (on the score: none under require_interval)
        "fragile": None if require_interval else fragile_counts(scores, definition, tau, selected, eligible),
    }


def _definition(scores, definition, ok, canary, settings: dict, fit) -> tuple[dict, dict]:
    """Both rules' entries for one definition ({rule: record}) and what its null does (`null_regime`)."""
    values = scores[definition].to_numpy(dtype=float)
    null, natural_scores = values[ok & canary], values[ok & ~canary]
    fixed_tau, min_out = settings["fixed_tau"], settings["min_out"]
    fixed = fixed_tau is not None and definition in FIXED_RULE_DEFINITIONS
    taus = {
        "null": null_threshold(null, settings["alpha"], settings["tail"]),
        "fixed": float(fixed_tau) if fixed else math.nan,
    }
    selected = scores[_selected_column(scores, definition, settings["require_interval"])]
    flagged = _flagged_share(taus["null"], selected.to_numpy(dtype=float)[ok & ~canary])
    max_share = settings["max_share"]
    records = {}
    for rule, tau in taus.items():
        undefined = _undefined_note(
            rule, definition, tau, fit, flagged if rule == "null" else None, max_share
        )
        records[rule] = (
            _undefined_record(undefined)
            if undefined
            else _rule_record(
                scores, rule, definition, tau, null, natural_scores, min_out, settings["require_interval"]
            )
        )
    top = at_top(definition, null, scores["n_out"].to_numpy(dtype=float)[ok & canary])
    return records, null_regime(null, taus["null"], flagged, max_share, top)


def _describe_ties(scores: pd.DataFrame, rules: dict, min_out: int, require_interval: bool) -> None:
    """Adds to each defined entry's `tau_ties`: `in_set` (its memorized points scoring exactly τ), `shared`
    (what they share with the canaries there, `tie_words`), `others` (how many of them conf's and lira's
    null-rule sets hold; None where that set is undefined) and `text` (`tie_text`)."""
    for entries in rules.values():
        for definition, r in entries.items():
            ties = r.get("tau_ties")
            if ties is None:
                continue
            tau = r["tau"]
            in_set = memorized(scores, definition, tau, min_out, require_interval) & (
                scores[definition].to_numpy(dtype=float) == tau
            )
            others = {}
            for d in (d for d in CONFIDENCE_DEFINITIONS if d != definition):
                own = rules["null"][d]
                defined = own["n_memorized"] is not None and own["tau"] is not None
                others[d] = (
                    int((memorized(scores, d, own["tau"], min_out) & in_set).sum()) if defined else None
                )
            ties.update(in_set=int(in_set.sum()), shared=tie_words(definition, tau), others=others)
            ties["text"] = tie_text(ties, tau, r["n_memorized"], r["n_memorized_strict"])


def _test_rule(scores, ok, null_rules: dict, settings: dict, fit, level: tuple) -> dict:
    """The test rule's entries (memgen.scores.fdr): one record, the same under fz and frac, with how many of
    its points each definition's null-rule set holds too; undefined for conf and lira (not counts) and
    wherever the fit check failed."""
    q, min_effect = level
    why = undefined_reason(fdr.RULE, math.nan, fit) or fdr.missing_counts(scores)
    v = None if why else fdr.verdicts(scores, ok, q, min_effect)
    out = {}
    for definition in DEFINITIONS:
        if definition not in fdr.TEST_DEFINITIONS:
            out[definition] = fdr.undefined_record(
                fdr.NOT_COUNTS.format(definition=definition), q, min_effect
            )
        elif why:
            out[definition] = fdr.undefined_record(why, q, min_effect)
        else:
            null = null_rules[definition]
            both = None
            if null["n_memorized"] is not None:
                in_null = memorized(
                    scores, definition, null["tau"], settings["min_out"], settings["require_interval"]
                )
                both = int((in_null & v["flagged"]).sum())
            out[definition] = fdr.record(v, q, min_effect, settings["min_out"], both)
    return out


def test_verdicts(scores: pd.DataFrame, thresholds: dict) -> dict | None:
    """The test rule's verdicts on `scores` (memgen.scores.fdr.verdicts: p, q_value, flagged, ...) at the
    level, effect size and min_out thresholds.json records; None where thresholds.json has no test rule
    (made before it) or its set is undefined. Fails when the count differs from the one recorded."""
    entry = (thresholds.get("rules", {}).get(fdr.RULE) or {}).get(fdr.TEST_DEFINITIONS[0])
    if not entry or entry.get("n_memorized") is None:
        return None
    v = fdr.verdicts(scores, scored(scores, thresholds["min_out"]), entry["q"], entry.get("min_effect", 0.0))
    if int(v["flagged"].sum()) != entry["n_memorized"]:
        raise fail(
            f"the test rule flags {int(v['flagged'].sum())} points of this scores.csv, thresholds.json "
            f"recorded {entry['n_memorized']}: they come from different scores",
            "rerun the thresholds rule: snakemake --forcerun <ensemble>/thresholds.json",
        )
    return v


def compute_thresholds(
    scores: pd.DataFrame,
    alpha: float,
    tail: str,
    fixed_tau: float,
    min_out: int,
    fit: dict | None = None,
    require_interval: bool = False,
    max_share: float = DEFAULT_MAX_SHARE,
    fdr_q: float = fdr.DEFAULT_Q,
    fdr_min_effect: float = 0.0,
) -> dict:
    """τ for each rule (null, fixed) and definition, the memorized set's size, what each definition's null
    does (`regime`, `null_regime`) and the canaries' acc_in spread. JSON-ready: NaN becomes None. Never
    raises on an empty null or an empty memorized set; `note` says why.

    fit: the ensemble's fit check (fit.json, memgen.scores.fitcheck.verdict) or None. Where the memorized set
    is undefined (the fit check failed, or the null rule's τ <= 0 or flags more than max_share of the natural
    points: `undefined_reason`), tau, n_memorized and fraction_memorized are None and `note` starts
    "memorized set undefined:" with the reason and the fix. Where τ rests on a tie, `tau_ties.text` says so.

    The test rule (`rules.test`, memgen.scores.fdr) has no τ: its set is the natural points an exact test
    flags at false-discovery rate fdr_q (and fz >= fdr_min_effect); one set, given under fz and frac.

    Counts: null_size = canaries scored; n_natural_scored = natural points scored; n_excluded = points
    (canaries and natural) not scored (n_in == 0 or n_out < min_out), so the three add up to N.
    """
    check_columns(scores, (*REQUIRED_COLUMNS, *DEFINITIONS))
    ok = scored(scores, min_out)
    canary = scores["canary"].to_numpy().astype(int) == 1
    settings = {"alpha": alpha, "tail": tail, "fixed_tau": fixed_tau, "min_out": min_out}
    settings.update(require_interval=require_interval, max_share=max_share)
    rules: dict = {"null": {}, "fixed": {}}
    regime: dict = {}
    for definition in DEFINITIONS:
        records, regime[definition] = _definition(scores, definition, ok, canary, settings, fit)
        for rule, record in records.items():
            rules[rule][definition] = record
    _describe_ties(scores, rules, min_out, require_interval)
    rules[fdr.RULE] = _test_rule(scores, ok, rules["null"], settings, fit, (fdr_q, fdr_min_effect))
    acc_in = scores["acc_in"].to_numpy(dtype=float)[canary & (scores["n_in"].to_numpy() >= 1)]
    return {
        "alpha": float(alpha),
        "tail": tail,
        "min_out": int(min_out),
        "max_memorized_share": float(max_share),
        "null_size": int((ok & canary).sum()),
        "n_natural_scored": int((ok & ~canary).sum()),
        "n_excluded": int((~ok).sum()),
        # every canary with n_in >= 1, whatever its n_out: how well members fit what they can only memorize
        "canary_acc_in": _summary(acc_in),
        "regime": regime,
        "fit": _fit_summary(fit),
        "require_interval": bool(require_interval),  # n_memorized counts interval lower ends >= τ
        "fdr_q": float(fdr_q),
        "fdr_min_effect": float(fdr_min_effect),
        "rules": rules,
    }


def read_scores(path) -> pd.DataFrame:
    return read_csv(path, ("index", *REQUIRED_COLUMNS))
