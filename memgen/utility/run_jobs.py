"""Stage 5's training job, file to file: one shard of utility runs (`write_utility_runs`), each a model
trained on the TRUE labels minus a removal set (memgen.utility.removal), written as a score-ensemble member
is (memgen.ensemble.jobs.train_and_save: checkpoint, then compact outputs on every test set).
"""

import numpy as np

from memgen.ensemble.jobs import job_inputs, train_and_save
from memgen.errors import fail
from memgen.io import load_npz
from memgen.utility.removal import keep_indices, load_removal


def _removed_sets(removal_path, condition: str, seed_ids) -> list[np.ndarray]:
    """The points each seed's run removes: the memorized set for every seed, or seed s's own random draw
    (same size as the memorized set; per class for random_class)."""
    sets = load_removal(removal_path)
    if condition == "memorized":
        return [sets["memorized"]] * len(seed_ids)
    by_seed = sets.get(f"{condition}_by_seed", np.zeros((0, 0), np.int64))
    if max(seed_ids) >= len(by_seed):
        raise fail(
            f"{removal_path} holds {condition} sets for {len(by_seed)} seeds, seed {max(seed_ids)} asked",
            f"rerun: snakemake --forcerun {removal_path}",
        )
    return [by_seed[s] for s in seed_ids]


def write_utility_runs(
    config, name, arch, canaries_path, removal_path, condition, params, ckpts, outputs, resume
) -> dict:
    """Utility runs use TRUE labels (canaries are only for score ensembles) minus the removal set."""
    cfg, ds = job_inputs(config, name, arch, params)
    true = load_npz(canaries_path, ["true_label"])["true_label"]
    removed = _removed_sets(removal_path, condition, params["seed_ids"])
    indices = [keep_indices(len(true), r) for r in removed]
    eval_sets = {f"test_{k}": v for k, v in ds.tests.items()}
    return train_and_save(
        ds,
        true,
        eval_sets,
        indices,
        params["seeds"],
        params["seed_ids"],
        arch,
        cfg,
        ckpts,
        outputs,
        resume,
        params["full_logits"],
        extra={"condition": condition, "n_removed": int(len(removed[0]))},
    )
