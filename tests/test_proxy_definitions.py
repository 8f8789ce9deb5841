"""The proxies of memgen.proxies.definitions on a training log worked out by hand, and on a simulated log
with one planted mislabelled point that every training-dynamics proxy must single out."""

import numpy as np
import pandas as pd
import pytest

from memgen.errors import MemgenError
from memgen.proxies.definitions import (
    COLUMNS,
    PROXIES,
    first_learned,
    forgetting_events,
    learning_speed,
    oriented,
    proxy_table,
)

T, F = True, False
# 2 models x 4 points x 5 epochs, written one point per row (the log's order is [model, epoch, point])
BY_POINT = np.array(
    [
        [
            [T, T, T, T, T],  # right from the start
            [F, F, T, T, T],  # learned at epoch 3
            [T, F, T, F, T],  # forgotten twice, right at the end
            [F, F, F, F, F],  # never right
        ],
        [
            [F, T, T, T, T],  # learned at epoch 2
            [T, T, T, T, F],  # forgotten at the last epoch: never learned for good
            [F, T, F, T, F],  # forgotten twice, wrong at the end
            [F, F, F, F, T],  # right only at the last epoch
        ],
    ]
)
CORRECT = BY_POINT.transpose(0, 2, 1)  # [M=2, E=5, N=4]
# learning speed: right epochs / 5
SPEED = [[5 / 5, 3 / 5, 3 / 5, 0 / 5], [4 / 5, 4 / 5, 2 / 5, 1 / 5]]
# first epoch (1-based) of the final run of right epochs; 6 = E + 1 when wrong at the last
FIRST = [[1, 3, 5, 6], [2, 6, 6, 5]]
# right -> wrong transitions; point 3 of model 0 never right: E = 5
FORGOT = [[0, 0, 2, 5], [0, 1, 2, 0]]


def _log(correct=CORRECT):
    m, e, n = correct.shape
    base = np.arange(m * n, dtype=np.float32).reshape(m, n)
    return {
        "correct": correct,
        "loss": np.ones((m, e, n), dtype=np.float32),
        "final_loss": base / 10,
        "final_margin": 3 - base,
        "curvature": base * 2,
    }


def test_hand_worked_training_dynamics():
    np.testing.assert_allclose(learning_speed(CORRECT), SPEED)
    np.testing.assert_array_equal(first_learned(CORRECT), FIRST)
    np.testing.assert_array_equal(forgetting_events(CORRECT), FORGOT)


def test_proxy_table_reports_model_zero_and_the_mean():
    t = proxy_table(_log())
    assert tuple(t.columns) == COLUMNS
    assert COLUMNS[:3] == ("index", "learning_speed_1", "learning_speed")
    assert list(t["index"]) == [0, 1, 2, 3]
    np.testing.assert_allclose(t["learning_speed_1"], [1.0, 0.6, 0.6, 0.0])
    np.testing.assert_allclose(t["learning_speed"], [0.9, 0.7, 0.5, 0.1])
    np.testing.assert_allclose(t["first_learned_1"], [1, 3, 5, 6])
    np.testing.assert_allclose(t["first_learned"], [1.5, 4.5, 5.5, 5.5])
    np.testing.assert_allclose(t["forgetting_events_1"], [0, 0, 2, 5])
    np.testing.assert_allclose(t["forgetting_events"], [0, 0.5, 2, 2.5])
    # the log's arrays as they are: model 0 is base 0..3, model 1 base 4..7
    np.testing.assert_allclose(t["final_loss_1"], [0.0, 0.1, 0.2, 0.3], rtol=1e-6)
    np.testing.assert_allclose(t["final_loss"], [0.2, 0.3, 0.4, 0.5], rtol=1e-6)
    np.testing.assert_allclose(t["margin_1"], [3, 2, 1, 0])
    np.testing.assert_allclose(t["margin"], [1, 0, -1, -2])
    np.testing.assert_allclose(t["curvature_1"], [0, 2, 4, 6])
    np.testing.assert_allclose(t["curvature"], [4, 6, 8, 10])
    assert t["first_learned"].dtype == float and t["forgetting_events"].dtype == float


def test_nan_under_one_model_is_nan_in_the_mean():
    log = _log()
    log["curvature"][1, 2] = np.nan
    t = proxy_table(log)
    assert t.loc[2, "curvature_1"] == 4 and np.isnan(t.loc[2, "curvature"])


def test_signs_and_orientation():
    assert list(PROXIES) == [
        "learning_speed",
        "first_learned",
        "forgetting_events",
        "final_loss",
        "margin",
        "curvature",
    ]
    assert {n: s for n, (s, _) in PROXIES.items()} == {
        "learning_speed": -1,
        "first_learned": 1,
        "forgetting_events": 1,
        "final_loss": 1,
        "margin": -1,
        "curvature": 1,
    }
    assert all(len(d) > 20 and "20" in d for _, d in PROXIES.values())  # each names its paper and year
    np.testing.assert_array_equal(oriented("margin", [2.0, -1.0]), [-2.0, 1.0])
    np.testing.assert_array_equal(oriented("final_loss", [2.0, -1.0]), [2.0, -1.0])
    with pytest.raises(MemgenError, match="'loss' is not one of"):
        oriented("loss", [1.0])


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda log: log.pop("curvature"), r"lacks \['curvature'\]"),
        (lambda log: log.update(correct=CORRECT[0]), r"'correct' has shape \(5, 4\)"),
        (lambda log: log.update(final_margin=np.zeros((2, 3))), r"'final_margin' has shape \(2, 3\)"),
        (lambda log: log.update(loss=np.zeros((2, 4, 4))), r"'loss' has shape \(2, 4, 4\), not \(2, 5, 4\)"),
        (lambda log: log.update(correct=CORRECT * 2), "other than True/False"),
    ],
)
def test_bad_logs_fail(change, message):
    log = _log()
    change(log)
    with pytest.raises(MemgenError, match=message):
        proxy_table(log)


def test_loss_is_optional_and_zero_one_integers_are_read():
    log = _log(CORRECT.astype(np.int8))
    del log["loss"]
    np.testing.assert_allclose(proxy_table(log)["first_learned_1"], [1, 3, 5, 6])


def _simulated(rng, n=200, epochs=10, hard=14, planted=137):
    """bool [E, N]: ordinary points right from an epoch in 0..3 on; `hard` points right from epoch 1 or 2
    with one or two single-epoch lapses before epoch 7; point `planted` alternates, right for good only
    in the last two epochs."""
    start = rng.integers(0, 4, n)
    correct = np.arange(epochs)[:, None] >= start[None, :]
    for j in rng.choice(np.setdiff1d(np.arange(n), [planted]), hard, replace=False):
        correct[:, j] = np.arange(epochs) >= rng.integers(1, 3)
        lapses = rng.choice(np.arange(3, 7), rng.integers(1, 3), replace=False)
        correct[lapses, j] = False
    correct[:, planted] = [F, T, F, T, F, T, F, F, T, T]  # 5 right, 3 lapses, right for good from 9
    return correct


def test_a_planted_mislabelled_point_is_singled_out():
    rng = np.random.default_rng(7)
    correct = np.stack([_simulated(rng), _simulated(rng)])  # [M=2, E=10, N=200]
    n = correct.shape[2]
    log = {
        "correct": correct,
        "final_loss": np.zeros((2, n)),
        "final_margin": np.zeros((2, n)),
        "curvature": np.zeros((2, n)),
    }
    t = proxy_table(log)
    for end in ("_1", ""):
        speed, first, forgot = (
            t[f"{p}{end}"] for p in ("learning_speed", "first_learned", "forgetting_events")
        )
        assert speed[137] == 0.5 and first[137] == 9 and forgot[137] == 3
        # strictly the most extreme: no other point ties it
        others = t.index != 137
        assert speed[others].min() >= 0.6 and first[others].max() <= 8 and forgot[others].max() <= 2
    # the simulation did make hard points: some forgotten twice, some learned for good late
    assert (t["forgetting_events_1"] == 2).any() and (t["first_learned_1"] >= 7).any()
    assert isinstance(t, pd.DataFrame) and len(t) == n


def test_the_command_lines_list_of_proxies_is_the_definitions():
    from memgen.proxies import NAMES

    assert NAMES == tuple(PROXIES)
