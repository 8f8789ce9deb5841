"""Canaries: seeded choice of round(fraction * N) points, each relabeled uniformly to another class."""

import numpy as np
import pytest

from memgen.data.canaries import make_canaries
from memgen.errors import MemgenError


def test_count_seed_and_shapes():
    labels = np.arange(200) % 10
    a = make_canaries(labels, 10, 0.05, seed=7)
    b = make_canaries(labels, 10, 0.05, seed=7)
    c = make_canaries(labels, 10, 0.05, seed=8)
    assert len(a["index"]) == 10  # round(0.05 * 200)
    assert a["canary"].sum() == 10 and a["canary"].dtype == bool
    np.testing.assert_array_equal(np.flatnonzero(a["canary"]), a["index"])  # sorted, no repeats
    for k in ("index", "label", "canary"):
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["index"], c["index"])
    np.testing.assert_array_equal(a["true_label"], labels)
    assert a["label"].dtype == np.int64 and a["index"].dtype == np.int64
    assert len(make_canaries(np.zeros(30, int) + 1, 3, 0.05, 0)["index"]) == 2  # round(1.5) = 2


def test_canaries_change_label_others_do_not():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=500)
    before = labels.copy()
    c = make_canaries(labels, 4, 0.2, seed=1)
    assert (c["label"][c["canary"]] != labels[c["canary"]]).all()
    np.testing.assert_array_equal(c["label"][~c["canary"]], labels[~c["canary"]])
    assert c["label"].min() >= 0 and c["label"].max() <= 3
    assert c["canary"].sum() == 100
    np.testing.assert_array_equal(labels, before)  # the caller's labels are not modified in place


def test_new_labels_uniform_over_other_classes():
    # 10 classes, true label 3 everywhere: new labels should be uniform over the 9 others.
    labels = np.full(20_000, 3)
    c = make_canaries(labels, 10, 0.9, seed=2)
    counts = np.bincount(c["label"][c["canary"]], minlength=10)
    assert counts[3] == 0
    others = np.delete(counts, 3)
    expected = 18_000 / 9
    chi2 = ((others - expected) ** 2 / expected).sum()
    assert chi2 < 26.1  # chi-square, 8 degrees of freedom: P(chi2 > 26.1) = 0.001


def test_fraction_zero_and_bounds():
    labels = np.array([0, 1, 2, 0, 1])
    c = make_canaries(labels, 3, 0.0, seed=0)
    assert len(c["index"]) == 0 and not c["canary"].any()
    np.testing.assert_array_equal(c["label"], labels)
    for bad in (1.0, 1.5, -0.1, float("nan")):
        with pytest.raises(MemgenError, match="canaries.fraction"):
            make_canaries(labels, 3, bad, seed=0)
    with pytest.raises(MemgenError, match="at least 2 classes"):
        make_canaries(np.zeros(5, int), 1, 0.2, seed=0)
    assert not make_canaries(np.zeros(5, int), 1, 0.0, seed=0)["canary"].any()
