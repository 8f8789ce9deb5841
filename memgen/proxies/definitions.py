"""Memorization proxies of each training point from a training log of M models trained on every point.

The log (`check_log`) holds, per model, each epoch's training-pass correctness and loss of every point,
and at the end each point's loss, margin and input-loss curvature under the trained model. A proxy is a
float [M, N], one value per model and point; `proxy_table` reports model 0 alone and the mean over the M.
No model holds a point out, so none of these is a memorization score (memgen.scores.compute): they are
what the ensembles' scores are checked against (memgen.proxies.validation).
"""

import numpy as np
import pandas as pd

from memgen.errors import fail

# name -> (sign, definition): sign +1 where a higher raw value means "more likely memorized", -1 where lower
PROXIES = {
    "learning_speed": (
        -1,
        "mean training-pass correctness over the epochs (cumulative training accuracy; Jiang et al. 2021, "
        "'Characterizing Structural Regularities of Labeled Data in Overparameterized Models')",
    ),
    "first_learned": (
        +1,
        "1-based epoch from which the point stays right through the last epoch, epochs + 1 if wrong at the "
        "last (first-split learning time; Maini et al. 2022, 'Characterizing Datapoints via Second-Split "
        "Forgetting')",
    ),
    "forgetting_events": (
        +1,
        "epochs right before and wrong after, the epoch count if never right (Toneva et al. 2019, 'An "
        "Empirical Study of Example Forgetting during Deep Neural Network Learning')",
    ),
    "final_loss": (
        +1,
        "cross-entropy under the trained model (Yeom et al. 2018, 'Privacy Risk in Machine Learning: "
        "Analyzing the Connection to Overfitting')",
    ),
    "margin": (
        -1,
        "trained model's logit of the label minus the largest other logit (Pleiss et al. 2020, 'Identifying "
        "Mislabeled Data using the Area Under the Margin Ranking')",
    ),
    "curvature": (
        +1,
        "input-loss curvature at the end of training (Garg, Ravikumar & Roy 2024, 'Memorization Through the "
        "Lens of Curvature of Loss Function Around Samples')",
    ),
}
COLUMNS = ("index", *(c for name in PROXIES for c in (f"{name}_1", name)))
# the log's arrays and their shapes in (models, epochs, points); `loss` is checked when present, never read
LOG_SHAPES = {
    "correct": "MEN",
    "loss": "MEN",
    "final_loss": "MN",
    "final_margin": "MN",
    "curvature": "MN",
}
REQUIRED_KEYS = ("correct", "final_loss", "final_margin", "curvature")


def check_log(log: dict) -> tuple[int, int, int]:
    """(M, E, N) of a training log, after checking that it has every required key, that `correct` is a
    boolean (or 0/1) [M, E, N] with no empty axis, and that every other array has the shape LOG_SHAPES
    gives it; a MemgenError naming the key otherwise."""
    missing = [k for k in REQUIRED_KEYS if k not in log]
    if missing:
        raise fail(f"training log lacks {missing}", f"write every one of {list(REQUIRED_KEYS)} into the log")
    correct = np.asarray(log["correct"])
    if correct.ndim != 3 or 0 in correct.shape:
        raise fail(
            f"training log 'correct' has shape {correct.shape}, not [models, epochs, points] with none empty",
            "store one bool per model, epoch and training point",
        )
    if correct.dtype != bool and not np.isin(correct, (0, 1)).all():
        raise fail("training log 'correct' holds values other than True/False", "store it as a bool array")
    sizes = dict(zip("MEN", correct.shape, strict=True))
    for key, axes in LOG_SHAPES.items():
        want = tuple(sizes[a] for a in axes)
        if key in log and np.shape(log[key]) != want:
            raise fail(
                f"training log {key!r} has shape {np.shape(log[key])}, not {want} "
                f"([{', '.join(axes)}] of 'correct' {correct.shape})",
                "write every array of the log from the same models, epochs and points",
            )
    return correct.shape


def learning_speed(correct: np.ndarray) -> np.ndarray:
    """float [M, N]: the fraction of the E epochs in which each model got each point right in its training
    pass, i.e. cumulative training accuracy, the C-score proxy of Jiang et al. 2021 ("Characterizing
    Structural Regularities of Labeled Data in Overparameterized Models"). A memorized point is learned
    late, so its speed is low."""
    return np.asarray(correct, dtype=bool).mean(axis=1)


def first_learned(correct: np.ndarray) -> np.ndarray:
    """float [M, N]: the first epoch e (1-based) from which the point is right in every epoch through the
    last, E + 1 when it is wrong at the last epoch (never learned for good). This is the first-split learning
    time of Maini et al. 2022 ("Characterizing Datapoints via Second-Split Forgetting"); a memorized point
    is learned for good late, so its value is high."""
    correct = np.asarray(correct, dtype=bool)
    # right in every epoch from e on, for each e: a backward running AND; its count is the final streak
    stays = np.flip(np.logical_and.accumulate(np.flip(correct, axis=1), axis=1), axis=1)
    return (correct.shape[1] + 1 - stays.sum(axis=1)).astype(float)


def forgetting_events(correct: np.ndarray) -> np.ndarray:
    """float [M, N]: the number of epochs e >= 1 with the point right at e - 1 and wrong at e (Toneva et al.
    2019, "An Empirical Study of Example Forgetting during Deep Neural Network Learning"). A point never right
    in any epoch gets E: Toneva et al. count it as forgotten infinitely often, and E exceeds any possible
    count (at most E // 2)."""
    correct = np.asarray(correct, dtype=bool)
    events = (correct[:, :-1] & ~correct[:, 1:]).sum(axis=1)
    return np.where(correct.any(axis=1), events, correct.shape[1]).astype(float)


def per_model(log: dict) -> dict[str, np.ndarray]:
    """Every proxy of PROXIES, in its order, as a float [M, N] from the training log (`check_log`);
    final_loss, margin (the log's final_margin) and curvature are the log's arrays as they are."""
    check_log(log)
    correct = np.asarray(log["correct"], dtype=bool)
    return {
        "learning_speed": learning_speed(correct),
        "first_learned": first_learned(correct),
        "forgetting_events": forgetting_events(correct),
        "final_loss": np.asarray(log["final_loss"], dtype=float),
        "margin": np.asarray(log["final_margin"], dtype=float),
        "curvature": np.asarray(log["curvature"], dtype=float),
    }


def oriented(name: str, values) -> np.ndarray:
    """sign * values for the proxy `name` (PROXIES), so that a higher value always means more likely
    memorized; NaN stays NaN."""
    if name not in PROXIES:
        raise fail(f"proxy {name!r} is not one of {list(PROXIES)}", "name a proxy of memgen.proxies.PROXIES")
    return PROXIES[name][0] * np.asarray(values, dtype=float)


def proxy_table(log: dict) -> pd.DataFrame:
    """The proxies table: one row per training point (`index` 0..N-1), and for each proxy `{name}_1`
    (model 0 alone) and `{name}` (the mean over the M models), raw (not oriented), columns as COLUMNS.
    A point NaN under any model (e.g. its curvature) is NaN in the mean, so every mean is over all M."""
    values = per_model(log)
    n = next(iter(values.values())).shape[1]
    columns = {"index": np.arange(n)}
    for name, v in values.items():
        columns[f"{name}_1"] = v[0]
        columns[name] = v.mean(axis=0)
    return pd.DataFrame(columns, columns=list(COLUMNS))
