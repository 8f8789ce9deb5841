"""Scores mean what they should on data with known structure (memgen.longtail).

Feldman's long-tail theory: a singleton sub-population can only be classified by memorizing it, so its
score is high; a point of a large sub-population is classified from its neighbours whether or not it was
trained on, so its score is near 0. Measured (K = 16, r = 0.5, 30 epochs, MLP): singletons' mean fz 0.82,
large sub-populations' 0.00; frac 0.75 vs 0.00. The test asks for a margin of 0.5.
"""

import numpy as np

from memgen.longtail import generate
from memgen.masks import balanced_mask
from memgen.scores import compute_scores
from memgen.train import Job, TrainConfig, predict, train


def test_singletons_score_far_above_large_subpopulations():
    ds = generate(seed=0)
    truth = ds.truth
    k = 16
    mask = balanced_mask(0, k, k, len(ds.y_train), 0.5)
    cfg = TrainConfig(epochs=30, lr_peak=0.1, weight_decay=5e-4, batch_size=64)
    job = Job(
        ds.x_train,
        ds.y_train,
        [np.flatnonzero(m) for m in mask],
        list(range(k)),
        "mlp",
        ds.num_classes,
        ds.mean,
        ds.std,
    )
    models = train(job, cfg)
    correct = np.stack(
        [
            predict(job, cfg, m["state_dict"], ds.x_train).astype(np.float32).argmax(1) == ds.y_train
            for m in models
        ]
    )
    s = compute_scores(mask, correct)
    singleton = (truth["subpop_size"] == 1) & ~truth["flipped"]
    large = (truth["subpop_size"] >= 20) & ~truth["flipped"]
    assert singleton.sum() >= 20 and large.sum() >= 100
    for definition in ("fz", "frac"):
        gap = np.nanmean(s[definition][singleton]) - np.nanmean(s[definition][large])
        assert gap > 0.5, f"{definition}: singletons only {gap:.2f} above large sub-populations"
