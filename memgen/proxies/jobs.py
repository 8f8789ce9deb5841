"""The proxies' jobs, file to file: the proxy models' training log (proxies/log.npz), proxies.csv from it,
and proxies_validation.csv against the reference ensemble, exact leave-one-out and the canaries.
"""

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from memgen.analysis.memorized import read_memorized
from memgen.data.index import load_index, point_paths
from memgen.errors import fail
from memgen.io import load_npz, save_csv, save_npz
from memgen.loo.jobs import data_with_labels, job_loader, reference_recipe
from memgen.preempt import stop_on_signals
from memgen.proxies.definitions import COLUMNS, proxy_table
from memgen.proxies.flag import FLAG_COLUMNS, flag
from memgen.proxies.validation import validate
from memgen.scores.thresholds import read_scores

log = logging.getLogger(__name__)

LOG_KEYS = ("correct", "loss", "final_loss", "final_margin", "curvature")


def write_proxy_log(config, name, arch, paths: dict, params: dict, out, resume) -> dict:
    """proxies/log.npz: M models on the whole training set (canary labels, the reference's recipe), each
    step's per-point correctness and loss (memgen.ensemble.point_log), then each trained model's final loss,
    margin and input-loss curvature on every training point; with the seconds each part took."""
    from memgen.ensemble.point_log import PointLog  # torch: here, so the csv jobs never load it
    from memgen.ensemble.train import Job, device, train
    from memgen.proxies.record import final_measures

    # the reference's recipe and the data with canary labels, read as leave-one-out's full models read them
    cfg = reference_recipe(config, name, arch, params)
    ds, labels = data_with_labels(name, job_loader(config, name, params), cfg, paths)
    seeds, n = list(params["seeds"]), len(labels)
    job = Job(ds.x_train, labels, [np.arange(n)] * len(seeds), seeds, arch, ds.num_classes, ds.mean, ds.std)
    dev = device()
    record = PointLog(len(seeds), cfg.epochs, n, dev)
    t0 = time.time()
    with stop_on_signals() as stop:
        results = train(job, cfg, dev, Path(resume), stop=stop, record=record)
    t1 = time.time()
    c = params["curvature"]
    final = [
        final_measures(job, cfg, r["state_dict"], dev, c["samples"], c["step"], s)
        for r, s in zip(results, seeds, strict=True)
    ]
    measured = {k: np.stack([f[k] for f in final]) for k in final[0]}
    timing = {"train_seconds": t1 - t0, "measure_seconds": time.time() - t1}
    save_npz(
        out,
        **record.arrays(),
        **measured,
        seeds=np.asarray(seeds, np.int64),
        epochs=np.int64(cfg.epochs),
        config=json.dumps(cfg.to_dict()),
        **{k: np.float64(v) for k, v in timing.items()},
    )
    Path(resume).unlink(missing_ok=True)
    log.info(
        "%d proxy models x %d epochs on %d points: trained in %.1f s, final measures in %.1f s",
        len(seeds),
        cfg.epochs,
        n,
        timing["train_seconds"],
        timing["measure_seconds"],
    )
    return {"device": dev, "seeds": {f"proxy{m}": int(s) for m, s in enumerate(seeds)}}


def read_proxy_log(path) -> dict:
    """log.npz's arrays (LOG_KEYS) and its epochs; a log without them fails naming the rerun."""
    try:
        data = load_npz(path, [*LOG_KEYS, "epochs"])
    except (KeyError, OSError, ValueError) as e:
        raise fail(f"cannot read the proxy log {path}: {e}", f"rerun: snakemake --forcerun {path}") from None
    return data


def write_proxies(log_path, canaries_path, out) -> pd.DataFrame:
    """proxies.csv: memgen.proxies.definitions.COLUMNS and `canary`, one row per training point."""
    df = proxy_table(read_proxy_log(log_path))
    canary = load_npz(canaries_path, ["canary"])["canary"].astype(bool)
    if len(canary) != len(df):
        raise fail(
            f"{canaries_path} flags {len(canary)} points, the proxy log {log_path} has {len(df)}",
            f"rerun: snakemake --forcerun {log_path}",
        )
    df.insert(1, "canary", canary)
    save_csv(out, df[["index", "canary", *[c for c in COLUMNS if c != "index"]]])
    return df


def write_validation(proxies_path, scores_path, memorized_path, loo_path, log_path, params: dict, out):
    """proxies_validation.csv (memgen.proxies.validation.VALIDATION_COLUMNS): each proxy from one model and
    from all against the reference ensemble's fz and frac (natural points held out by at least min_out of
    its members), exact leave-one-out's random sample (fz_loo; none where leave-one-out was skipped), the
    memorized set (precision and recall at its size) and the canaries (AUROC), with its cost."""
    proxies = pd.read_csv(proxies_path)
    scores = read_scores(scores_path)
    reference = scores[["index", "fz", "frac"]].copy()
    reference.loc[scores["n_out"] < params["min_out"], ["fz", "frac"]] = np.nan
    memorized = np.zeros(len(proxies), dtype=bool)
    memorized[read_memorized(memorized_path)["index"].to_numpy(np.int64)] = True
    loo = None
    if loo_path:
        table = pd.read_csv(loo_path)
        random = table[table["chosen"] == "random"]
        loo = pd.DataFrame({"index": random["index"], "loo": random["fz_loo"]}) if len(random) else None
    epochs = int(load_npz(log_path, ["epochs"])["epochs"])
    models = len(load_npz(log_path, ["seeds"])["seeds"])
    cost = {"models": models, "epochs": epochs, "reference_model_epochs": params["reference_model_epochs"]}
    canary = proxies["canary"].astype(bool).to_numpy()
    df = validate(proxies, reference, memorized, canary, loo, cost)
    save_csv(out, df)
    for r in df[df["models"] == "all"].itertuples():
        log.info(
            "%s (%d models): Spearman %.2f against fz, %.2f against frac; AUROC on canaries %.2f",
            r.proxy,
            models,
            r.spearman_fz,
            r.spearman_frac,
            r.auroc_canary,
        )
    return df


def write_memorized_proxy(proxies_path, index_path, params: dict, out) -> pd.DataFrame:
    """memorized_proxy.csv (memgen.proxies.flag.FLAG_COLUMNS): the natural points the proxy flags against
    its canaries, with file and class. params: proxy, models ("all" or "1"), alpha, tail (threshold's)."""
    proxies = pd.read_csv(proxies_path)
    idx = load_index(index_path)
    flagged, tau = flag(proxies, params["proxy"], params["models"], params["alpha"], params["tail"])
    i = flagged["index"].to_numpy(np.int64)
    labels = np.asarray(idx["labels"])[i]
    classes = np.asarray(idx["classes"]).astype(str)
    flagged = flagged.assign(path=point_paths(idx)[i], label=labels, label_name=classes[labels])
    save_csv(out, flagged[list(FLAG_COLUMNS)])
    natural = int((~proxies["canary"].astype(bool)).sum())
    log.info(
        "proxy %s (%s): τ = %.4g from %d canaries at alpha %s; %d of %d natural points flagged (%.1f %%)",
        params["proxy"],
        "mean of the proxy models" if params["models"] == "all" else "one model",
        tau,
        int(proxies["canary"].astype(bool).sum()),
        params["alpha"],
        len(flagged),
        natural,
        100 * len(flagged) / max(1, natural),
    )
    return flagged
