"""I/O glue of exact leave-one-out (memgen.loo.truth): which datasets are small enough, the full models, the
leave-one-out models of one job's points, and loo.csv.

LOO models keep compact outputs on the points they are needed for and no checkpoint: nothing reads their
weights, and at the default 8 seeds x 16 points a checkpoint each would be 128 files nobody opens.
"""

import logging
from pathlib import Path

import numpy as np

import memgen.config as mc
from memgen.data.index import load_index
from memgen.data.loaders import dataset_from
from memgen.ensemble.outputs import compact
from memgen.errors import fail
from memgen.io import load_json, load_npz, save_csv, save_json, save_npz
from memgen.loo.truth import (
    RANKING_HALF,
    chosen_points,
    halves,
    loo_pool,
    loo_table,
    random_ranking,
    top_ranking,
)
from memgen.preempt import stop_on_signals
from memgen.recipe import TrainConfig

log = logging.getLogger(__name__)


def write_plan(index_path, params: dict, out) -> None:
    """loo/plan.json: whether leave-one-out runs on this dataset (at most loo.max_train_points training
    points), read by the workflow before it plans any leave-one-out job."""
    n = load_index(index_path)["n"]
    cap = params["max_train_points"]
    run = n <= cap
    reason = "" if run else f"{n} training points > loo.max_train_points = {cap}: leave-one-out skipped"
    save_json(out, {"n": n, "max_train_points": cap, "run": run, "reason": reason})
    log.info("%s", reason or f"{n} training points <= {cap}: leave-one-out runs")


def plan_runs(plan_path) -> bool:
    return bool(load_json(plan_path)["run"])


def reference_recipe(config, name, arch, params) -> TrainConfig:
    """The reference ensemble's recipe as planned (params) with the run-only keys (batching, checkpoint
    interval) of the config, parsed once at the top of a job."""
    return TrainConfig.from_dict(
        {**mc.training(config, name, arch, mc.reference(config)), **params["training"]}
    )


def job_loader(config, name, params) -> dict:
    """The rule's loader spec with the config's run-only loader keys (memgen.config.loader_run)."""
    return {**params["loader"], **mc.loader_run(config, name)}


def data_with_labels(name, loader: dict, cfg: TrainConfig, paths):
    """The dataset and its canary labels, which must be as many."""
    ds = dataset_from(loader, name, None, cfg.random_resized_crop)
    labels = load_npz(paths["canaries"], ["label"])["label"]
    if len(labels) != len(ds.y_train):
        raise fail(
            f"{paths['canaries']} labels {len(labels)} points, the dataset has {len(ds.y_train)}",
            "rerun the dataset's rules: snakemake --forcerun " + str(paths["canaries"]),
        )
    return ds, labels


def _train(cfg: TrainConfig, arch, ds, labels, seeds, resume, holdout=None):
    """Train one job's models with the reference ensemble's recipe, each on every point but its holdout
    (Job.holdout), so that leave-i-out model m sees full model m's batches without i."""
    from memgen.ensemble.train import Job, device, train  # torch: here, so loo_plan and loo never load it

    everything = [np.arange(len(labels))] * len(seeds)
    job = Job(ds.x_train, labels, everything, seeds, arch, ds.num_classes, ds.mean, ds.std, holdout)
    dev = device()
    with stop_on_signals() as stop:
        results = train(job, cfg, dev, Path(resume), stop=stop)
    Path(resume).unlink(missing_ok=True)
    return job, dev, results


def _evaluate(job, cfg, state_dict, x, y, dev) -> dict:
    from memgen.ensemble.train import predict_chunks

    parts, start = [], 0
    for logits in predict_chunks(job, cfg, state_dict, x, dev):
        parts.append(compact(logits, y[start : start + len(logits)]))
        start += len(logits)
    return {f: np.concatenate([p[f] for p in parts]) for f in ("pred", "log_odds")}


def write_full(config, name, arch, paths: dict, params: dict, out, resume) -> dict:
    """loo/full.npz: M models on the whole training set (canary labels, as the score ensembles), each
    evaluated on every training point: `correct` bool [M, N], `log_odds` float32 [M, N], `seeds`."""
    cfg = reference_recipe(config, name, arch, params)
    ds, labels = data_with_labels(name, job_loader(config, name, params), cfg, paths)
    n, seeds = len(labels), list(params["seeds"])
    job, dev, results = _train(cfg, arch, ds, labels, seeds, resume)
    correct, log_odds = np.zeros((len(seeds), n), bool), np.zeros((len(seeds), n), np.float32)
    for m, res in enumerate(results):
        o = _evaluate(job, cfg, res["state_dict"], ds.x_train, labels, dev)
        correct[m], log_odds[m] = o["pred"] == labels, o["log_odds"]
    save_npz(out, correct=correct, log_odds=log_odds, seeds=np.asarray(seeds, np.int64))
    log.info("%d full models: mean training accuracy %.3f", len(seeds), correct.mean())
    return {"device": dev, "seeds": {f"loo{m}": int(s) for m, s in enumerate(seeds)}}


def _reference(paths: dict, log_odds: bool) -> dict:
    """The reference ensemble's masks and member outputs (correct.npz), which must match in shape."""
    mask = load_npz(paths["ref_masks"], ["mask"])["mask"].astype(bool)
    out = load_npz(paths["ref_correct"], ["correct", "log_odds"] if log_odds else ["correct"])
    if out["correct"].shape != mask.shape:
        raise fail(
            f"{paths['ref_correct']} holds {out['correct'].shape} outputs, {paths['ref_masks']} a mask "
            f"{mask.shape}",
            "rerun the reference ensemble's scores: snakemake --forcerun " + str(paths["ref_correct"]),
        )
    return {"mask": mask, **out}


def _half_scores(scores: dict, canary: np.ndarray) -> dict:
    return {"index": np.arange(len(canary)), "canary": canary, **scores}


def job_points(paths: dict, params: dict) -> np.ndarray:
    """The points of one leave-one-out job: positions [first, last) of its stratum's ranking; the top
    stratum ranks by half A of the reference ensemble (memgen.loo.truth.halves), top_b by its half B."""
    canary = load_npz(paths["canaries"], ["canary"])["canary"]
    if params["stratum"] in RANKING_HALF:
        ref = _reference(paths, log_odds=False)
        ranker = halves(ref["mask"], ref["correct"])[RANKING_HALF[params["stratum"]]]
        ranking = top_ranking(_half_scores(ranker, canary))
    else:
        ranking = random_ranking(canary, params["random_seed"])
    return chosen_points(ranking, params["first"], params["last"])


def write_removed(config, name, arch, paths: dict, params: dict, out, resume) -> dict:
    """loo/{stratum}/{group}.npz: for each of the job's points j and seed m, a model trained on every
    point but j, evaluated on j: `index` [P], `correct` bool [M, P], `log_odds` float32 [M, P]."""
    cfg, loader = reference_recipe(config, name, arch, params), job_loader(config, name, params)
    points = job_points(paths, params)
    seeds = list(params["seeds"])
    M, P = len(seeds), len(points)
    correct, log_odds = np.zeros((M, P), bool), np.zeros((M, P), np.float32)
    if P == 0:  # the dataset has fewer natural points than the stratum asks for
        save_npz(out, index=points, correct=correct, log_odds=log_odds)
        log.info("%s positions %d-%d: no natural point there, nothing trained", *_where(params))
        return {}
    ds, labels = data_with_labels(name, loader, cfg, paths)
    holdout = [int(j) for j in points for _ in seeds]  # model (j, m) at j * M + m
    job, dev, results = _train(cfg, arch, ds, labels, seeds * P, resume, holdout)
    for p, j in enumerate(points):
        for m in range(M):
            o = _evaluate(job, cfg, results[p * M + m]["state_dict"], ds.x_train[[j]], labels[[j]], dev)
            correct[m, p], log_odds[m, p] = o["pred"][0] == labels[j], o["log_odds"][0]
    save_npz(out, index=points, correct=correct, log_odds=log_odds)
    log.info(
        "%s positions %d-%d: %d points x %d seeds; held-out accuracy on them %.2f",
        *_where(params),
        P,
        M,
        correct.mean(),
    )
    return {"device": dev}


def _where(params):
    return params["stratum"], params["first"], params["last"] - 1


def write_loo(paths: dict, out, dataset: str, arch: str) -> None:
    """loo.csv from the full models and every leave-one-out job (memgen.loo.truth.loo_table); only a header
    when the plan skips this dataset."""
    from memgen.data.index import point_paths

    if not plan_runs(paths["plan"]):
        save_csv(out, loo_table({}, np.zeros((0, 0)), np.zeros((0, 0)), [], [], (np.nan, np.nan)))
        log.info("%s/%s: %s", dataset, arch, load_json(paths["plan"])["reason"])
        return
    full = load_npz(paths["full"], ["correct", "log_odds"])
    strata = {}
    for stratum, files in paths["strata"].items():
        parts = [load_npz(f, ["index", "correct", "log_odds"]) for f in files]
        strata[stratum] = {
            "index": np.concatenate([p["index"] for p in parts]).astype(np.int64),
            "correct": np.concatenate([p["correct"] for p in parts], axis=1),
            "log_odds": np.concatenate([p["log_odds"] for p in parts], axis=1),
        }
    label = load_npz(paths["canaries"], ["label"])["label"]
    ref = _reference(paths, log_odds=True)
    table = loo_table(
        strata,
        full["correct"],
        full["log_odds"],
        label,
        point_paths(load_index(paths["index"])),
        loo_pool(ref["mask"], ref["log_odds"]),
        halves(ref["mask"], ref["correct"], ref["log_odds"]),
    )
    save_csv(out, table)
    for stratum, rows in table.groupby("chosen", sort=False):
        log.info(
            "%s/%s %s: %d points, frac_loo mean %.3f (jackknife se %.3f), acc_full %.2f, acc_loo %.2f",
            dataset,
            arch,
            stratum,
            len(rows),
            rows["frac_loo"].mean(),
            rows["frac_loo_se"].mean(),
            rows["acc_full"].mean(),
            rows["acc_loo"].mean(),
        )
