import numpy as np
import pandas as pd
import pytest

from memgen.errors import MemgenError
from memgen.utility.removal import class_matched, keep_indices, load_removal, removal_sets, save_removal

# Ten training points: 0 and 1 are canaries with the highest scores; point 9 is held out by only 2
# members, so with min_out = 3 it has no score. Natural points reaching fz >= 0.25: 2, 3 (tie), 7.
FZ = [0.9, 0.8, 0.5, 0.25, 0.2, 0.1, 0.0, 0.3, -0.1, 0.9]


def scores_table(fz=FZ, n_out=(5,) * 9 + (2,)):
    fz = np.array(fz, dtype=float)
    return pd.DataFrame(
        {
            "index": np.arange(len(fz)),
            "canary": [1, 1] + [0] * (len(fz) - 2),
            "true_label": np.arange(len(fz)) % 2,
            "n_in": 5,
            "n_out": list(n_out),
            "acc_in": 1.0,
            "acc_out": 1.0 - fz,
            "fz": fz,
            "frac": fz / (2.0 - fz),
        }
    )


def test_memorized_set_is_natural_points_at_or_above_tau():
    sets = removal_sets(scores_table(), "fz", 0.25, min_out=3, seed=0)
    assert sets["memorized"].tolist() == [2, 3, 7]
    assert sets["memorized"].dtype == np.int64
    assert sets["n_natural"] == 8 and sets["n_train"] == 10
    assert sets["reason"] == ""


def test_random_set_same_size_natural_only_and_seeded():
    df = scores_table()
    seen = np.zeros(10, dtype=int)
    for seed in range(400):
        r = removal_sets(df, "fz", 0.25, min_out=3, seed=seed)["random"]
        assert r.dtype == np.int64 and len(r) == 3 and len(set(r.tolist())) == 3
        assert r.tolist() == sorted(r.tolist())
        seen[r] += 1
    assert seen[0] == 0 and seen[1] == 0  # canaries are never drawn
    # every natural point (also the unscored 9 and the memorized ones) is drawn, about 3/8 of the time
    assert np.all(np.abs(seen[2:] / 400 - 3 / 8) < 0.1)
    a = removal_sets(df, "fz", 0.25, 3, seed=7)["random"]
    b = removal_sets(df, "fz", 0.25, 3, seed=7)["random"]
    assert a.tolist() == b.tolist()


def test_empty_memorized_set_has_a_reason():
    high = removal_sets(scores_table(), "fz", 0.95, min_out=3, seed=0)
    assert high["memorized"].size == 0 and high["random"].size == 0
    assert "no natural point reaches" in high["reason"] and "0.5" in high["reason"]  # highest scored: 0.5
    for tau in (None, float("nan")):
        undefined = removal_sets(scores_table(), "frac", tau, min_out=3, seed=0)
        assert undefined["memorized"].size == 0
        assert "undefined" in undefined["reason"]


def test_removal_of_every_natural_point_raises():
    # tau = -1 and min_out = 0 make all 8 natural points memorized: the random control would be identical
    with pytest.raises(MemgenError, match="natural points"):
        removal_sets(scores_table(), "fz", -1.0, min_out=0, seed=0)
    # no canaries at all: the whole training set would go
    no_canaries = scores_table().assign(canary=0)
    with pytest.raises(MemgenError, match="nothing to train on"):
        removal_sets(no_canaries, "fz", -1.0, min_out=0, seed=0)


def test_save_and_load_round_trip(tmp_path):
    sets = removal_sets(scores_table(), "fz", 0.25, min_out=3, seed=3)
    save_removal(tmp_path / "r.npz", sets)
    back = load_removal(tmp_path / "r.npz")
    assert back["memorized"].tolist() == [2, 3, 7]
    assert back["random"].tolist() == sets["random"].tolist()
    assert back["n_natural"] == 8 and back["reason"] == "" and back["definition"] == "fz"
    assert back["tau"] == 0.25 and back["seed"] == 3 and back["min_out"] == 3
    empty = removal_sets(scores_table(), "fz", None, min_out=3, seed=0)
    save_removal(tmp_path / "e.npz", empty)
    back = load_removal(tmp_path / "e.npz")
    assert back["memorized"].size == 0 and "undefined" in back["reason"] and np.isnan(back["tau"])


def test_keep_indices():
    assert keep_indices(6, np.array([4, 1])).tolist() == [0, 2, 3, 5]
    assert keep_indices(3, np.array([], dtype=np.int64)).tolist() == [0, 1, 2]
    with pytest.raises(MemgenError, match="outside"):
        keep_indices(3, np.array([3]))
    with pytest.raises(MemgenError, match="leaves none"):
        keep_indices(2, np.array([0, 1]))


def test_unknown_definition_raises():
    with pytest.raises(MemgenError, match="definition"):
        removal_sets(scores_table(), "fZ", None, min_out=3, seed=0)


def test_undefined_memorized_set_removes_nothing_and_says_why():
    # τ = 0 would select every natural point with fz >= 0 (the null at 0): undefined instead, never an error
    why = "memorized set undefined: the null sits at 0 (members fit almost none of the canaries ...)"
    sets = removal_sets(scores_table(), "fz", 0.0, min_out=0, seed=0, undefined=why)
    assert sets["memorized"].size == 0 and sets["random"].size == 0 and sets["reason"] == why
    assert np.isnan(sets["tau"])


def test_undefined_set_reaches_the_tables(tmp_path):
    """thresholds.json (compute_thresholds with a failed fit check) -> removal -> utility table -> Tables 1
    and 3: the study ends with the reason in every table, no utility run and no error."""
    import json

    from memgen.scores.thresholds import compute_thresholds
    from memgen.utility.jobs import (
        read_table1,
        read_table3,
        write_removal,
        write_table1,
        write_table3,
        write_utility,
    )

    scores = scores_table().assign(conf=np.nan, lira=np.nan)  # thresholds.json covers every definition
    scores.to_csv(tmp_path / "s.csv", index=False)
    fit = {
        "ok": False,
        "problems": ["members fit 9.8% of their own natural training points on average"],
        "fix": "raise training.epochs (now 1)",
        "train_acc": {"mean": 0.098},
        "dead_fraction": 0.0,
        "canary_acc_in": {"mean": 0.0},
    }
    thresholds = compute_thresholds(scores, 0.05, "upper", 0.25, 3, fit)
    (tmp_path / "t.json").write_text(json.dumps(thresholds))
    paths = []
    for variant, rule in (("baseline", "fixed"), ("all", "null")):
        removal = {"ensemble": "rate0.95", "definition": "fz", "rule": rule, "min_out": 3, "seed": 1}
        write_removal(tmp_path / "s.csv", tmp_path / "t.json", tmp_path / f"{variant}.npz", removal)
        assert load_removal(tmp_path / f"{variant}.npz")["memorized"].size == 0
        path = tmp_path / "digits/mlp/utility" / f"{variant}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_utility(
            tmp_path / f"{variant}.npz", None, [], path, "digits", {}, {"test_set": "original", "seeds": 2}
        )
        paths.append(path)
    write_table1(paths, tmp_path / "table1.csv")
    write_table3(paths[1:], tmp_path / "table3.csv")
    for table in (read_table1(tmp_path / "table1.csv"), read_table3(tmp_path / "table3.csv")):
        assert (table["n_removed"] == 0).all()
        assert table["note"].str.contains("memorized set undefined: members do not fit as expected").all()
        assert table["note"].str.contains("fix: raise training.epochs").all()


def test_the_class_matched_control_removes_the_memorized_sets_counts_per_class():
    """A class-skewed memorized set (shirts, as on Fashion-MNIST): the uniform control takes few shirts,
    the class-matched one exactly as many of each class as the memorized set, drawn per seed."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)  # 10 classes of 100 natural points
    scores = pd.DataFrame(
        {"canary": 0, "true_label": labels, "n_in": 5, "n_out": 5, "acc_in": 1.0, "fz": 0.0}
    )
    scores["frac"] = 0.0
    memorized = np.sort(
        np.concatenate([rng.choice(np.flatnonzero(labels == 6), 40, replace=False), [3, 150]])
    )
    want = np.bincount(labels[memorized], minlength=10)  # 40 of class 6, one each of classes 0 and 1
    draws = [class_matched(scores, memorized, [11, s, 1]) for s in range(5)]
    for d in draws:
        assert np.bincount(labels[d], minlength=10).tolist() == want.tolist()
        assert len(np.unique(d)) == len(d) == len(memorized) and d.dtype == np.int64
    assert len({tuple(d) for d in draws}) == 5  # each seed its own draw
    assert (class_matched(scores, memorized, [11, 0, 1]) == draws[0]).all()  # seeded
    uniform = removal_sets(scores.assign(fz=np.isin(np.arange(1000), memorized) * 1.0), "fz", 0.5, 3, 11)
    assert (uniform["memorized"] == memorized).all() and np.bincount(labels[uniform["random"]], minlength=10)[
        6
    ] < 15
    # canaries are never drawn, and a class whose natural points are all memorized gives them back
    small = pd.DataFrame({"canary": [1, 0, 0, 0], "true_label": [0, 0, 1, 1], "n_out": 5, "fz": 0.0})
    assert class_matched(small, np.array([1, 2]), 0).tolist() in ([1, 2], [1, 3])
    assert class_matched(small, np.zeros(0, np.int64), 0).size == 0


def test_write_removal_draws_a_class_matched_control_per_seed(tmp_path):
    from memgen.utility.jobs import write_removal

    labels = np.arange(40) % 4
    fz = np.where((labels == 2) | (np.arange(40) == 1), 0.9, 0.0)  # class 2's ten points and point 1
    pd.DataFrame({"index": range(40), "label": labels, "true_label": labels, "canary": 0, "n_in": 5}).assign(
        n_out=5, acc_in=1.0, acc_out=0.0, fz=fz, frac=fz
    ).to_csv(tmp_path / "s.csv", index=False)
    rules = {r: {d: {"tau": 0.25} for d in ("fz", "frac")} for r in ("fixed", "null")}
    (tmp_path / "t.json").write_text(__import__("json").dumps({"min_out": 1, "rules": rules}))
    removal = {
        "ensemble": "rate0.7",
        "definition": "fz",
        "rule": "fixed",
        "min_out": 1,
        "seed": 3,
        "seeds": 4,
    }
    write_removal(tmp_path / "s.csv", tmp_path / "t.json", tmp_path / "r.npz", removal)
    sets = load_removal(tmp_path / "r.npz")
    assert sets["random_class_by_seed"].shape == (4, 11) and sets["random_by_seed"].shape == (4, 11)
    for row in sets["random_class_by_seed"]:
        assert np.bincount(labels[row], minlength=4).tolist() == [0, 1, 10, 0]
