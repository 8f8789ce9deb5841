import json
import math

import numpy as np
import pandas as pd
import pytest

from memgen.errors import MemgenError
from memgen.scores.thresholds import compute_thresholds, memorized, null_threshold


def table(rows):
    """rows: (canary, n_in, n_out, acc_in, acc_out, fz, frac), scores written by hand."""
    cols = ["canary", "n_in", "n_out", "acc_in", "acc_out", "fz", "frac"]
    df = pd.DataFrame(rows, columns=cols)
    return df.assign(conf=df["frac"], lira=df["fz"])  # copies: conf/lira rules are tested on their own below


NAN = math.nan
# canaries c1..c5, natural n1..n7; min_out = 2 in the tests below
STUDY = table(
    [
        (1, 4, 4, 1.00, 0.00, 1.00, 1.0),  # c1
        (1, 4, 4, 0.50, 0.00, 0.50, 1.0),  # c2
        (1, 4, 4, 0.25, 0.00, 0.25, 1.0),  # c3
        (1, 4, 4, 0.75, 0.25, 0.50, 0.5),  # c4: .5/1
        (1, 4, 1, 1.00, 0.00, 1.00, 1.0),  # c5: held out once -> excluded at min_out 2
        (0, 4, 4, 1.00, 0.50, 0.50, 1 / 3),  # n1: .5/1.5
        (0, 4, 4, 1.00, 1.00, 0.00, 0.0),  # n2
        (0, 4, 4, 0.50, 0.00, 0.50, 1.0),  # n3
        (0, 4, 4, 0.25, 0.00, 0.25, 1.0),  # n4
        (0, 4, 4, 0.00, 0.00, 0.00, 0.0),  # n5: 0/0 -> 0
        (0, 8, 0, 1.00, NAN, NAN, NAN),  # n6: never held out
        (0, 4, 1, 1.00, 0.00, 1.00, 1.0),  # n7: held out once -> excluded at min_out 2
    ]
)


def test_upper_and_lower_quantile_of_four_scores():
    null = np.array([0.4, 0.1, 0.3, 0.2])
    # upper, alpha .25: smallest t with share(null <= t) >= .75: 0.2 -> 2/4, 0.3 -> 3/4
    assert null_threshold(null, 0.25, "upper") == 0.3
    # lower: largest t with share(null >= t) >= .75: 0.3 -> 2/4, 0.2 -> 3/4
    assert null_threshold(null, 0.25, "lower") == 0.2


def test_alpha_times_n_integer_does_not_round_up():
    null = np.arange(1, 21) / 20  # 0.05 .. 1.00
    # (1 - .05) * 20 = 19 exactly: the 19th smallest is 0.95 (19/20 <= 0.95), not the max
    assert null_threshold(null, 0.05, "upper") == 0.95
    # 19 of 20 are >= 0.10 (the 2nd smallest), 20 of 20 >= 0.05
    assert null_threshold(null, 0.05, "lower") == 0.10


def test_small_null_gives_extremes():
    null = np.arange(10) / 10  # 0.0 .. 0.9; (1 - .05) * 10 = 9.5 -> rank 10
    assert null_threshold(null, 0.05, "upper") == 0.9
    assert null_threshold(null, 0.05, "lower") == 0.0


def test_ties_and_nan_in_null():
    null = np.array([0.5, 1.0, 1.0, 1.0])
    # rank ceil(.5 * 4) = 2 either way: sorted [.5, 1, 1, 1][1] = 1, descending [1, 1, 1, .5][1] = 1
    assert null_threshold(null, 0.5, "upper") == 1.0
    assert null_threshold(null, 0.5, "lower") == 1.0
    # NaN dropped: n = 2, rank ceil(.5 * 2) = 1 -> 0.1
    assert null_threshold(np.array([NAN, 0.2, 0.1]), 0.5, "upper") == 0.1


def test_empty_null_is_nan():
    assert math.isnan(null_threshold(np.array([]), 0.05, "upper"))
    assert math.isnan(null_threshold(np.array([NAN, NAN]), 0.05, "lower"))


@pytest.mark.parametrize("alpha,tail", [(0.05, "both"), (0.0, "upper"), (1.0, "lower"), ("0.05", "upper")])
def test_bad_alpha_or_tail_is_a_user_error(alpha, tail):
    with pytest.raises(MemgenError, match="Fix:"):
        null_threshold(np.array([0.1]), alpha, tail)


def test_memorized_ties_count_and_exclusions():
    # fz >= .5 among natural scored points (min_out 2): n1 (.5, a tie), n3 (.5); n7 (1.0) held out once;
    # canaries c1, c2, c4 score >= .5 but are never "memorized"
    got = memorized(STUDY, "fz", 0.5, min_out=2)
    assert got.tolist() == [False] * 5 + [True, False, True, False, False, False, False]
    # min_out 1 lets n7 in; n6 (n_out 0, score NaN) never
    got = memorized(STUDY, "fz", 0.5, min_out=1)
    assert np.flatnonzero(got).tolist() == [5, 7, 11]


def test_memorized_nan_tau_is_empty():
    assert not memorized(STUDY, "frac", NAN, min_out=1).any()
    assert not memorized(STUDY, "frac", None, min_out=1).any()


def test_memorized_unknown_definition():
    with pytest.raises(MemgenError, match="definition"):
        memorized(STUDY, "loo", 0.5, min_out=1)


def test_compute_thresholds_by_hand():
    out = compute_thresholds(STUDY, alpha=0.25, tail="upper", fixed_tau=0.25, min_out=2)
    json.dumps(out, allow_nan=False)  # JSON-ready
    assert (out["alpha"], out["tail"], out["min_out"]) == (0.25, "upper", 2)
    # null: c1..c4; natural scored: n1..n5; excluded: c5, n6, n7 (4 + 5 + 3 = 12 rows)
    assert (out["null_size"], out["n_natural_scored"], out["n_excluded"]) == (4, 5, 3)
    keys = ("tau", "n_memorized", "fraction_memorized", "note")
    null, fixed = (
        {d: {k: r[k] for k in keys} for d, r in out["rules"][rule].items()} for rule in ("null", "fixed")
    )
    # fz null sorted [.25, .5, .5, 1]; rank ceil(.75 * 4) = 3 -> .5; natural >= .5: n1, n3 -> 2 / 5
    assert null["fz"] == {"tau": 0.5, "n_memorized": 2, "fraction_memorized": 0.4, "note": None}
    # frac null sorted [.5, 1, 1, 1] -> 1.0; natural >= 1: n3, n4
    assert null["frac"] == {"tau": 1.0, "n_memorized": 2, "fraction_memorized": 0.4, "note": None}
    # fixed .25: fz n1 .5, n3 .5, n4 .25 (tie); frac n1 1/3, n3 1, n4 1 -> 3 / 5 each
    assert fixed["fz"] == {"tau": 0.25, "n_memorized": 3, "fraction_memorized": 0.6, "note": None}
    assert fixed["frac"] == {"tau": 0.25, "n_memorized": 3, "fraction_memorized": 0.6, "note": None}
    # ties at τ: fz .5 is c2, c4 and n1, n3; frac 1.0 is c1, c2, c3 and n3, n4
    ties = out["rules"]["null"]
    counts = ("canaries", "natural", "rests_on_ties", "canary_share", "in_set")
    assert {k: ties["fz"]["tau_ties"][k] for k in counts} == dict(
        zip(counts, (2, 2, True, 0.5, 2), strict=True)
    )
    assert {k: ties["frac"]["tau_ties"][k] for k in counts} == dict(
        zip(counts, (3, 2, True, 0.75, 2), strict=True)
    )
    # the strict reading (score > τ): no natural point scores above fz .5 or frac 1
    assert ties["fz"]["n_memorized_strict"] == ties["frac"]["n_memorized_strict"] == 0
    assert out["rules"]["fixed"]["fz"]["n_memorized_strict"] == 2  # n1, n3 (.5 > .25); n4 sits at .25
    # tied n1 (fz .5, frac 1/3) and n3 (fz .5, frac 1): conf (= frac, τ 1) holds n3, lira (= fz, τ .5) both
    assert ties["fz"]["tau_ties"]["others"] == {"conf": 1, "lira": 2}
    assert ties["fz"]["tau_ties"]["shared"] is None  # .5 is no top score: only "the same score" in common
    assert ties["fz"]["tau_ties"]["text"] == (
        "the memorized set rests on a tie: 2 of its 2 points score exactly tau = 0.5, as 50 % of canaries "
        "do; the strict reading (score > tau) memorizes 0; of these 2 tied points, conf memorizes 1 and lira "
        "memorizes 2"
    )
    # frac's tie is at the top score: what the tied points share with those canaries, in words
    assert ties["frac"]["tau_ties"]["text"] == (
        "the memorized set rests on a tie: 2 of its 2 points score exactly tau = 1 (no held-out member gets "
        "them right, like 75 % of canaries); the strict reading (score > tau) memorizes 0; of these 2 tied "
        "points, conf memorizes 2 and lira memorizes 1"
    )
    # the regime from what each null does: frac's sits at the top score (3 of 4 canaries), fz's does not
    assert out["regime"]["frac"]["kind"] == "saturated" and out["regime"]["frac"]["top_share"] == 0.75
    assert out["regime"]["fz"]["kind"] == "partly" and out["regime"]["fz"]["top_share"] == 0.25
    # conf and lira (copies of frac and fz here) take the null rule alone: the fixed rule is fz/frac's
    assert null["conf"] == null["frac"] and null["lira"] == null["fz"]
    for d in ("conf", "lira"):
        assert fixed[d]["tau"] is None and fixed[d]["n_memorized"] is None
        assert "fixed rule" in fixed[d]["note"] and "use the null rule" in fixed[d]["note"]
        assert out["rules"]["fixed"][d]["tau_ties"] is None
    # canary acc_in over c1..c5 (n_in >= 1): [1, .5, .25, .75, 1], sorted [.25, .5, .75, 1, 1]
    # mean 3.5 / 5 = .7; squared deviations .2025 + .04 + .0025 + .09 + .09 = .425, / 4 -> std sqrt(.10625)
    acc = out["canary_acc_in"]
    assert acc["n"] == 5 and acc["mean"] == pytest.approx(0.7)
    assert acc["std"] == pytest.approx(math.sqrt(0.10625))
    assert (acc["min"], acc["q25"], acc["median"], acc["q75"], acc["max"]) == (0.25, 0.5, 0.75, 1.0, 1.0)


def test_lower_tail_rule():
    out = compute_thresholds(STUDY, alpha=0.5, tail="lower", fixed_tau=0.25, min_out=2)
    # fz null descending [1, .5, .5, .25]; rank ceil(.5 * 4) = 2 -> .5 (3 of 4 canaries reach it)
    assert out["rules"]["null"]["fz"]["tau"] == 0.5
    # upper with the same alpha: sorted [.25, .5, .5, 1] rank 2 -> .5 too; alpha .75 separates them:
    # rank ceil(.25 * 4) = 1: upper .25, lower 1.0 (max_share 1: .25 flags 3 of 5 natural points)
    assert (
        compute_thresholds(STUDY, 0.75, "upper", 0.25, 2, max_share=1.0)["rules"]["null"]["fz"]["tau"] == 0.25
    )
    assert compute_thresholds(STUDY, 0.75, "lower", 0.25, 2)["rules"]["null"]["fz"]["tau"] == 1.0


def test_empty_null_never_raises():
    natural_only = STUDY[STUDY["canary"] == 0].reset_index(drop=True)
    out = compute_thresholds(natural_only, alpha=0.05, tail="upper", fixed_tau=0.25, min_out=2)
    json.dumps(out, allow_nan=False)
    assert out["null_size"] == 0 and out["canary_acc_in"]["n"] == 0 and out["canary_acc_in"]["mean"] is None
    rule = out["rules"]["null"]["frac"]
    assert rule["tau"] is None and rule["n_memorized"] == 0 and rule["fraction_memorized"] == 0.0
    assert "no canaries scored" in rule["note"]
    assert out["rules"]["fixed"]["fz"]["n_memorized"] == 3  # the fixed rule still works


def test_tau_at_max_score_with_no_natural_point_there():
    # every scored canary fully memorized (fz = frac = 1); natural points below 1
    scores = STUDY.copy()
    scores.loc[scores["canary"] == 1, ["acc_in", "acc_out", "fz", "frac"]] = [1.0, 0.0, 1.0, 1.0]
    scores.loc[[7, 8], ["frac"]] = 0.9
    out = compute_thresholds(scores, alpha=0.05, tail="upper", fixed_tau=0.25, min_out=2)
    rule = out["rules"]["null"]["frac"]
    assert rule["tau"] == 1.0 and rule["n_memorized"] == 0
    assert "highest attainable score 1" in rule["note"] and "100%" in rule["note"]


def test_no_natural_point_scored():
    # all natural points held out fewer than 5 times
    out = compute_thresholds(STUDY, alpha=0.25, tail="upper", fixed_tau=0.25, min_out=5)
    assert out["n_natural_scored"] == 0 and out["null_size"] == 0 and out["n_excluded"] == 12
    assert out["rules"]["fixed"]["fz"]["fraction_memorized"] is None
    assert "no natural point is scored" in out["rules"]["fixed"]["fz"]["note"]


FAILED_FIT = {
    "ok": False,
    "problems": ["members fit 12.0% of their own natural training points on average"],
    "fix": "raise training.epochs (now 1)",
    "train_acc": {"mean": 0.12},
    "dead_fraction": 0.0,
    "canary_acc_in": {"mean": 0.0},
}


def test_failed_fit_check_makes_every_memorized_set_undefined():
    out = compute_thresholds(STUDY, alpha=0.25, tail="upper", fixed_tau=0.25, min_out=2, fit=FAILED_FIT)
    json.dumps(out, allow_nan=False)
    assert out["fit"]["ok"] is False and out["fit"]["fix"] == "raise training.epochs (now 1)"
    assert out["fit"]["reason"].startswith("members do not fit as expected (fit check failed: members fit 12")
    for rule in ("null", "fixed"):
        for definition in ("fz", "frac"):
            r = out["rules"][rule][definition]
            assert (r["tau"], r["n_memorized"], r["fraction_memorized"]) == (None, None, None)
            assert r["note"].startswith("memorized set undefined: members do not fit as expected")
            assert "fix: raise training.epochs (now 1)" in r["note"]
    ok = compute_thresholds(STUDY, 0.25, "upper", 0.25, 2, fit={**FAILED_FIT, "ok": True, "problems": []})
    assert ok["rules"]["null"]["fz"]["n_memorized"] == 2 and ok["fit"]["ok"] is True


def test_null_at_zero_is_undefined_not_every_point():
    # members fit (almost) none of the canaries: every canary scores 0, τ = 0 (ties count), which would call
    # every natural point with a score >= 0 memorized (n1..n5 here; 47,500 of 47,500 on a CIFAR-10 run)
    scores = STUDY.copy()
    scores.loc[scores["canary"] == 1, ["acc_in", "acc_out", "fz", "frac"]] = [0.0, 0.0, 0.0, 0.0]
    for tail in ("upper", "lower"):
        out = compute_thresholds(scores, alpha=0.05, tail=tail, fixed_tau=0.25, min_out=2)
        for definition in ("fz", "frac"):
            r = out["rules"]["null"][definition]
            assert r["tau"] is None and r["n_memorized"] is None
            assert r["note"].startswith("memorized set undefined: the null sits at 0")
        assert out["rules"]["fixed"]["fz"]["n_memorized"] == 3  # the fixed rule does not read the null
    assert out["fit"] is None  # no fit check given


def test_continuous_tau_rests_on_no_tie():
    # distinct canary scores: τ is one canary's score, shared by no other point
    scores = STUDY.assign(lira=[0.9, 0.8, 0.7, 0.6, 0.5, 0.1, 0.2, 0.75, 0.3, 0.0, NAN, 0.95])
    out = compute_thresholds(scores, alpha=0.25, tail="upper", fixed_tau=0.25, min_out=2)
    r = out["rules"]["null"]["lira"]
    # null c1..c4 sorted [.6, .7, .8, .9], rank 3 -> .8; natural >= .8: none of n1..n5 (n3 .75)
    assert (r["tau"], r["n_memorized"]) == (0.8, 0)
    ties = {k: r["tau_ties"][k] for k in ("canaries", "natural", "rests_on_ties", "in_set", "text")}
    assert ties == {"canaries": 1, "natural": 0, "rests_on_ties": False, "in_set": 0, "text": None}


def test_a_null_barely_above_zero_that_flags_most_points_is_undefined():
    # canaries c2..c4 at 0 and c1 at .01: the upper quantile τ = .01 is above 0, so the τ <= 0 guard passes,
    # yet it flags n1, n3, n4 (3 of the 5 natural points scored): more than half
    scores = STUDY.copy()
    scores.loc[scores["canary"] == 1, "fz"] = [0.01, 0.0, 0.0, 0.0, 0.0]
    out = compute_thresholds(scores, alpha=0.05, tail="upper", fixed_tau=0.25, min_out=2)
    r = out["rules"]["null"]["fz"]
    assert (r["tau"], r["n_memorized"], r["n_memorized_strict"], r["tau_ties"]) == (None, None, None, None)
    assert r["note"].startswith("memorized set undefined: the null's tau 0.01 would flag 60 % of the natural")
    assert "threshold.max_memorized_share (50 %)" in r["note"] and "fix:" in r["note"]
    assert out["regime"]["fz"]["kind"] == "low" and out["regime"]["fz"]["flagged_share"] == 0.6
    assert out["max_memorized_share"] == 0.5
    assert out["rules"]["fixed"]["fz"]["n_memorized"] == 3  # the fixed rule reads no null: not guarded
    # the share is a setting: at .6 (or 1, off) the same τ gives a set
    assert (
        compute_thresholds(scores, 0.05, "upper", 0.25, 2, max_share=0.6)["rules"]["null"]["fz"][
            "n_memorized"
        ]
        == 3
    )
    # τ <= 0 keeps its own reason, and its regime
    zero = compute_thresholds(
        scores.assign(fz=scores["fz"].where(scores["canary"] == 0, 0.0)), 0.05, "upper", 0.25, 2
    )
    assert (
        "the null sits at 0" in zero["rules"]["null"]["fz"]["note"]
        and zero["regime"]["fz"]["kind"] == "at_zero"
    )


def saturated_study(n_canaries=100, n_natural=2000, seed=0):
    """The shape of a real 2,000-image folder whose members fit 99 % of the canaries: 94 of 100 canaries and
    203 natural points score frac = fz = 1.0 (no held-out member gets them right); conf and lira are
    continuous, and the tied natural points sit below their nulls' τ."""
    rng = np.random.default_rng(seed)
    canary = np.r_[np.ones(n_canaries, int), np.zeros(n_natural, int)]
    frac = np.r_[np.ones(94), rng.uniform(0.3, 0.9, 6), np.ones(203), rng.uniform(-0.2, 0.9, n_natural - 203)]
    conf = np.r_[rng.uniform(0.6, 0.99, n_canaries), rng.uniform(0.0, 0.5, n_natural)]
    df = pd.DataFrame({"canary": canary, "n_in": 230, "n_out": 12, "acc_in": 0.99, "acc_out": 0.0})
    return df.assign(fz=frac, frac=frac, conf=conf, lira=conf)


def test_a_set_resting_on_a_tie_says_what_the_tie_is():
    out = compute_thresholds(saturated_study(), alpha=0.05, tail="upper", fixed_tau=0.25, min_out=10)
    r = out["rules"]["null"]["frac"]
    assert (r["tau"], r["n_memorized"], r["n_memorized_strict"]) == (1.0, 203, 0)
    assert r["tau_ties"]["others"] == {"conf": 0, "lira": 0}
    assert r["tau_ties"]["text"] == (
        "the memorized set rests on a tie: 203 of its 203 points score exactly tau = 1 (no held-out member "
        "gets them right, like 94 % of canaries); the strict reading (score > tau) memorizes 0; of these 203 "
        "tied points, conf memorizes 0 and lira memorizes 0"
    )
    assert out["rules"]["null"]["fz"]["tau_ties"]["shared"] == (
        "every member that trained on them gets them right and no held-out member does"
    )
    # conf and lira: no tie, no text; their nulls are not saturated
    assert out["rules"]["null"]["conf"]["tau_ties"]["text"] is None
    assert out["rules"]["null"]["lira"]["tau_ties"]["others"] == {"conf": 0}  # lira's own set is empty too
    kinds = {d: out["regime"][d]["kind"] for d in ("fz", "frac", "conf", "lira")}
    assert kinds == {"fz": "saturated", "frac": "saturated", "conf": "partly", "lira": "partly"}
    # at the top: within one held-out member of 1 (n_out 12: fz >= 11/12, frac >= 11/13): the 94 at 1, and
    # for frac one of the six others (0.3-0.9); conf's top is within TOP_EPSILON of 1: none
    assert out["regime"]["fz"]["top_share"] == 0.94 and out["regime"]["frac"]["top_share"] == 0.95
    assert out["regime"]["conf"]["top_share"] == 0.0
    json.dumps(out, allow_nan=False)


# ---- the regime at the edges -------------------------------------------------------------------------------
def test_a_continuous_null_a_hair_below_one_is_saturated():
    # a Fashion-MNIST folder: conf's τ 0.9999999 and lira's 0.998 sit at the top, not "partly fit"
    conf = [0.5, 0.9, 0.9999999, 0.99999995, 0.5, 0.1, 0.2, 0.3, 0.4, 0.0, NAN, 0.9]
    lira = [0.2, 0.5, 0.998, 0.999, 0.5, 0.1, 0.2, 0.3, 0.4, 0.0, NAN, 0.9]
    out = compute_thresholds(STUDY.assign(conf=conf, lira=lira), 0.25, "upper", 0.25, 2)
    # null c1..c4, rank ceil(.75 * 4) = 3: conf [.5, .9, .9999999, .99999995] -> .9999999; lira -> .998
    assert out["regime"]["conf"]["tau"] == 0.9999999 and out["regime"]["lira"]["tau"] == 0.998
    assert out["regime"]["conf"]["kind"] == out["regime"]["lira"]["kind"] == "saturated"
    assert out["regime"]["conf"]["top_share"] == out["regime"]["lira"]["top_share"] == 0.5
    # lira 0.99 (a separation of 7 sd) is no longer within TOP_EPSILON (0.005) of the top: partly fit
    lira = [0.2, 0.5, 0.99, 0.991, 0.5, 0.1, 0.2, 0.3, 0.4, 0.0, NAN, 0.9]
    out = compute_thresholds(STUDY.assign(lira=lira), 0.25, "upper", 0.25, 2)
    assert out["regime"]["lira"]["kind"] == "partly" and out["regime"]["lira"]["top_share"] == 0.0


def test_a_count_null_one_held_out_member_below_the_top_is_saturated():
    # n_out 4: one held-out member right gives fz 1 - 1/4 = .75 and frac (1 - 1/4)/(1 + 1/4) = .6, each
    # canary by its own n_out (c2 held out 8 times: fz 1 - 1/8)
    scores = STUDY.copy()
    canaries = scores.index[scores["canary"] == 1][:4]
    scores.loc[canaries, "n_out"] = [4, 8, 4, 4]
    scores.loc[canaries, "fz"] = [0.75, 0.875, 0.5, 0.74]
    scores.loc[canaries, "frac"] = [0.6, 0.6, 0.5, 0.59]
    out = compute_thresholds(scores, 0.25, "upper", 0.25, 2)
    # fz null [.5, .74, .75, .875] -> τ .75 (c1, at the top); top: c1 and c2 (.875 = 1 - 1/8)
    assert out["regime"]["fz"]["tau"] == 0.75 and out["regime"]["fz"]["kind"] == "saturated"
    assert out["regime"]["fz"]["top_share"] == 0.5
    # frac null [.5, .59, .6, .6] -> τ .6: c1 (n_out 4) is at the top, c2 (n_out 8: top from 7/9) not
    assert out["regime"]["frac"]["kind"] == "saturated" and out["regime"]["frac"]["top_share"] == 0.25


def test_a_null_at_the_top_is_never_barely_above_zero():
    # frac's null sits at 1 (c1..c3) and n1, n3, n4 score 1 too: τ = 1 flags 3 of 5 natural points, more than
    # max_share; the null is saturated, not "barely above 0" (the set stays undefined: it separates nothing)
    scores = STUDY.copy()
    scores.loc[5, "frac"] = 1.0  # n1
    out = compute_thresholds(scores, 0.25, "upper", 0.25, 2)
    regime = out["regime"]["frac"]
    assert (regime["tau"], regime["flagged_share"]) == (1.0, 0.6)
    assert regime["kind"] == "saturated"
    assert out["rules"]["null"]["frac"]["n_memorized"] is None


def test_the_flagged_share_reads_the_interval_under_require_interval():
    # the null barely above 0 (τ .01) flags 3 of 5 natural fz scores, but only n3's lower end reaches it:
    # under require_interval the set holds 1 of 5 points, which is no "null that flags most points"
    scores = STUDY.copy()
    scores.loc[scores["canary"] == 1, "fz"] = [0.01, 0.0, 0.0, 0.0, 0.0]
    lower = [-0.5, -0.5, -0.5, -0.5, -0.5, 0.0, -0.2, 0.2, -0.1, -0.3, NAN, 0.5]
    scores = scores.assign(fz_lo=lower, frac_lo=lower)
    out = compute_thresholds(scores, 0.05, "upper", 0.25, 2, require_interval=True)
    r = out["rules"]["null"]["fz"]
    assert out["regime"]["fz"]["flagged_share"] == 0.2 and out["regime"]["fz"]["kind"] == "partly"
    assert (r["tau"], r["n_memorized"], r["n_memorized_point"]) == (0.01, 1, 3)
    # without the option the same τ flags 60 %: undefined, "low"
    plain = compute_thresholds(scores, 0.05, "upper", 0.25, 2)
    assert plain["regime"]["fz"]["kind"] == "low" and plain["regime"]["fz"]["flagged_share"] == 0.6


def test_canaries_tied_among_themselves_do_not_make_the_set_rest_on_a_tie():
    # c2 and c3 share lira's τ .8, no natural point does: the set (score >= τ) equals the strict one
    lira = [0.9, 0.8, 0.8, 0.6, 0.5, 0.1, 0.2, 0.75, 0.3, 0.0, NAN, 0.95]
    r = compute_thresholds(STUDY.assign(lira=lira), 0.25, "upper", 0.25, 2)["rules"]["null"]["lira"]
    assert (r["tau"], r["tau_ties"]["canaries"], r["tau_ties"]["natural"]) == (0.8, 2, 0)
    assert r["tau_ties"]["rests_on_ties"] is False and r["tau_ties"]["text"] is None
    # one natural point at τ (n3) does: the strict reading drops it
    lira[7] = 0.8
    r = compute_thresholds(STUDY.assign(lira=lira), 0.25, "upper", 0.25, 2)["rules"]["null"]["lira"]
    assert r["tau_ties"]["rests_on_ties"] is True and (r["n_memorized"], r["n_memorized_strict"]) == (1, 0)


def tie_study(n_canaries=100, seed=0):
    """Counts as on a real near leave-one-out ensemble (244 members in, 12 out of each point), scores derived
    from them: the tie point (right once in 244 in-members, never out: frac = 1, fz = 0.004), a hard point
    never memorized (right 24 of 244 in, 0 of 12 out: frac = 1 too), 30 memorized points (always right in,
    never out), 300 easy points (always right) and canaries, 98 % of which are fully memorized."""
    rng = np.random.default_rng(seed)
    rows = [(0, 1, 0), (0, 24, 0)] + [(0, 244, 0)] * 30 + [(0, 244, 12)] * 300
    rows += [(1, 244, 0)] * (n_canaries - 2) + [(1, 200, 6)] * 2
    canary, right_in, right_out = (np.array(c) for c in zip(*rows, strict=True))
    acc_in, acc_out = right_in / 244, right_out / 12
    fz = np.round(acc_in - acc_out, 12)
    frac = np.round((acc_in - acc_out) / (acc_in + acc_out), 12)
    df = pd.DataFrame({"canary": canary, "n_in": 244, "n_out": 12, "acc_in": acc_in, "acc_out": acc_out})
    conf = rng.uniform(0, 0.5, len(df))
    return df.assign(fz=fz, frac=frac, conf=conf, lira=conf, label=0, true_label=0)


def test_the_frac_tie_is_memorized_by_eq3_but_not_by_the_exact_test():
    """Eq. 3's canary quantile controls no error rate: with 98 % of canaries at frac = 1, tau = 1 and every
    natural point no held-out member gets right is memorized, whatever its in-accuracy (the tie point: right
    once in 244 in-members, Fisher's one-sided p = 244/256). The test rule (BH at q) excludes it and the hard
    point, keeps the 30 memorized points, and records its power: the canaries it flags at the same cut."""
    out = compute_thresholds(tie_study(), alpha=0.05, tail="upper", fixed_tau=0.25, min_out=10)
    null = out["rules"]["null"]["frac"]
    assert (null["tau"], null["n_memorized"]) == (1.0, 32)  # the tie and the hard point count under Eq. 3
    assert "test" in out["rules"], "thresholds.json has no rule with a stated error rate"
    test = out["rules"]["test"]["frac"]
    assert test == out["rules"]["test"]["fz"]  # one set, given under both count definitions
    assert test["n_memorized"] == 30 and test["q"] == 0.05 and test["n_in_null_set"] == 30
    assert test["canary_power"] == pytest.approx(98 / 100) and test["n_canaries_flagged"] == 98
    assert test["fraction_memorized"] == pytest.approx(30 / 332)
    assert out["rules"]["test"]["conf"]["n_memorized"] is None  # the test reads counts: conf, lira have none
    from memgen.scores.thresholds import scored, test_verdicts

    v = test_verdicts(tie_study(), out)
    assert not v["flagged"][0] and not v["flagged"][1] and v["flagged"][2:32].all()
    assert memorized(tie_study(), "frac", 1.0, 10)[0]  # Eq. 3 memorizes the tie point
    assert v["p"][0] == pytest.approx(244 / 256)  # P(the one right member is an in-member)
    assert test["p_cut"] == pytest.approx(v["p"][2]) and scored(tie_study(), 10).all()
    json.dumps(out, allow_nan=False)


def test_the_test_rule_is_undefined_where_the_fit_check_failed():
    out = compute_thresholds(tie_study(), 0.05, "upper", 0.25, 10, fit=FAILED_FIT)
    for d in ("fz", "frac"):
        assert out["rules"]["test"][d]["n_memorized"] is None
        assert out["rules"]["test"][d]["note"].startswith("memorized set undefined: members do not fit")


def test_null_and_natural_split_the_scored_points_and_score_groups_keep_nan():
    """Fig. 3 and 12's groups: canaries and natural points among the scored ones (n_in ≥ 1, n_out ≥ min_out,
    fz and frac defined); a definition with no score anywhere gets no group, unless it is the only one."""
    from memgen.scores.thresholds import null_and_natural, score_groups

    t = table(
        [
            (1, 4, 4, 1.0, 0.0, 1.0, 1.0),  # canary, scored
            (1, 4, 1, 1.0, 0.0, 1.0, 1.0),  # canary held out once: out at min_out 2
            (0, 4, 4, 1.0, 0.5, 0.5, 1 / 3),  # natural, scored
            (0, 0, 8, NAN, 0.5, NAN, NAN),  # natural never trained on: out
            (0, 4, 4, 0.5, 0.5, 0.0, 0.0),  # natural, scored
        ]
    ).assign(conf=[0.9, 0.8, NAN, 0.1, 0.2], lira=NAN)
    null, natural = null_and_natural(t, 2)
    assert null.tolist() == [True, False, False, False, False]
    assert natural.tolist() == [False, False, True, False, True]
    groups = score_groups(t, ("frac", "conf", "lira"), 2)
    assert list(groups) == ["frac", "conf"]  # lira: NaN everywhere
    assert groups["frac"]["null"].tolist() == [1.0] and groups["frac"]["natural"].tolist() == [1 / 3, 0.0]
    assert groups["conf"]["null"].tolist() == [0.9] and np.isnan(groups["conf"]["natural"][0])
    assert list(score_groups(t, "lira", 2)) == ["lira"]  # the only one asked: kept, empty-handed
