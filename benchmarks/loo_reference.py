"""The reference ensemble's error against exact leave-one-out, whole and as its half B, on a simulated study.

    .venv/bin/python benchmarks/loo_reference.py [--seed 2026]

No training: every member's label log-odds is drawn as mean + noise with correct = log-odds > 0. Points are
easy (75 %), medium (20 %) or atypical (5 %), each with a held-out mean and a gain from being trained on; a
member at rate r holds a point out with mean m_out - 2 (1 - r) and in with m_in - (1 - r) (fewer training
points, a worse model), with seed and subset noise; the leave-one-out models are the same at r = 1 with seed
noise only, a seed pair sharing part of it (memgen.ensemble.common.Job.holdout). Ensembles as config.yaml's
(rates 0.25, 0.5, 0.7 with 64 members, 0.95 with 256), loo as its (8 pairs, 8 top, 64 random points).

Prints, on the random points, each rate's mean |score - LOO score| (memgen.analysis.sampling_bias.loo_bias),
the reference's whole and as its half B (what the comparison used before it was whole there), the truth's own
noise (truth_se) and the error net of it (rmse_corrected); and lira's two variance pools both ways: in from
the full models (seed only) or from the reference, out from the reference.
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from memgen.analysis.sampling_bias import loo_bias
from memgen.io import save_json, save_npz
from memgen.loo import jobs
from memgen.loo.truth import halves, loo_pool, random_ranking, top_ranking
from memgen.scores.compute import confidence_stats, pooled_variances, score_table

N, M, TOP, RANDOM = 1600, 8, 8, 64
RATES = {"rate0.25": 0.25, "rate0.5": 0.5, "rate0.7": 0.7, "rate0.95": 0.95}
SHARED, OWN, SUBSET = 1.2, 0.8, 1.0  # log-odds noise: a seed pair's shared part, each model's own, a subset's


def study(rng):
    canary = np.zeros(N, bool)
    canary[rng.choice(N, 80, replace=False)] = True
    kind = rng.choice(3, N, p=[0.75, 0.2, 0.05])
    m_out = np.choose(kind, [rng.normal(4, 1, N), rng.normal(1, 1.5, N), rng.normal(-2, 1, N)])
    gain = np.choose(kind, [np.full(N, 0.5), rng.uniform(0.5, 4, N), rng.uniform(3, 8, N)])
    m_out[canary], gain[canary] = -3.0, rng.uniform(2, 9, canary.sum())
    return canary, m_out, m_out + gain


def ensemble(rng, m_in, m_out, rate, K):
    mask = rng.random((K, N)) < rate
    mean = np.where(mask, m_in - (1 - rate), m_out - 2.0 * (1 - rate))
    z = (mean + np.sqrt(SHARED**2 + OWN**2 + SUBSET**2) * rng.standard_normal((K, N))).astype(np.float32)
    return mask, z > 0, z


def write_inputs(rng, out: Path) -> tuple[dict, dict]:
    """The ensembles' scores and every file memgen.loo.jobs.write_loo reads."""
    canary, m_out, m_in = study(rng)
    scores = {}
    for name, rate in RATES.items():
        mask, correct, z = ensemble(rng, m_in, m_out, rate, 256 if name == "rate0.95" else 64)
        scores[name] = score_table(mask, correct, np.zeros(N, int), np.zeros(N, int), canary, log_odds=z)
    save_npz(out / "masks.npz", mask=mask)  # the last, rate0.95, is the reference
    save_npz(out / "correct.npz", correct=correct, log_odds=z)
    a, b = halves(mask, correct, z)
    scores["rate0.95 half B"] = pd.DataFrame({"canary": canary.astype(int), **b})
    shared = rng.standard_normal((M, N))
    z_full = (m_in + SHARED * shared + OWN * rng.standard_normal((M, N))).astype(np.float32)
    save_npz(out / "full.npz", correct=z_full > 0, log_odds=z_full)
    chosen = {
        "top": top_ranking({"index": np.arange(N), "canary": canary.astype(int), **a})[:TOP],
        "random": random_ranking(canary, 7)[:RANDOM],
    }
    for s, idx in chosen.items():
        z = (m_out[idx] + SHARED * shared[:, idx] + OWN * rng.standard_normal((M, len(idx)))).astype(
            np.float32
        )
        save_npz(out / f"{s}.npz", index=idx, correct=z > 0, log_odds=z)
    save_npz(out / "index.npz", n=N, labels=np.zeros(N, int), num_classes=2, classes=np.array(["a", "b"]))
    save_npz(out / "canaries.npz", label=np.zeros(N, int), canary=canary)
    save_json(out / "plan.json", {"n": N, "max_train_points": N, "run": True, "reason": ""})
    paths = {"plan": out / "plan.json", "full": out / "full.npz", "index": out / "index.npz"}
    paths |= {"strata": {s: [out / f"{s}.npz"] for s in chosen}, "canaries": out / "canaries.npz"}
    return scores, paths | {"ref_masks": out / "masks.npz", "ref_correct": out / "correct.npz"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--smoke", action="store_true", help="the same run: it takes a second")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        scores, paths = write_inputs(rng, Path(tmp))
        jobs.write_loo(paths, Path(tmp) / "loo.csv", "simulated", "toy")
        loo = pd.read_csv(Path(tmp) / "loo.csv")
        ref = {k: np.load(paths[k]) for k in ("ref_masks", "ref_correct")}
        full = np.load(paths["full"])["log_odds"]
    rates = {**RATES, "rate0.95 half B": 0.95}
    table = loo_bias(scores, rates, loo, "rate0.95")
    table = table[table["points"] == "random"]
    cols = ["ensemble", "definition", "mae", "mae_lo", "mae_hi", "truth_se", "rmse_corrected", "members"]
    pd.set_option("display.width", 200)
    print(f"random points ({RANDOM}), {M} seed pairs:")
    print(table[cols].round(4).to_string(index=False))
    mask, log_odds = ref["ref_masks"]["mask"], ref["ref_correct"]["log_odds"]
    seed_only = pooled_variances(confidence_stats(np.ones(full.shape, bool), full))[0]
    print("lira pools (in, out): full models' in with the reference's out "
          f"({seed_only:.2f}, {loo_pool(mask, log_odds)[1]:.2f}); the reference's both "
          f"({loo_pool(mask, log_odds)[0]:.2f}, {loo_pool(mask, log_odds)[1]:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
