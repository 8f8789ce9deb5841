"""I/O glue of the measurement stage (paper §3.1-3.3, App. A.1): thresholds, definitions, sampling
bias, stability (their figures, Fig. 1, 2, 3, 7, 8, 9: memgen.figures.jobs).

Each `write_*` function takes input paths and the rule's params, calls the logic in memgen, and writes
its outputs atomically; no Snakemake object is needed, so each is unit-tested on its own. They return
None or, like `memgen.workflow.run` expects of its work, a dict of extra provenance.
Tables carry `dataset` and `arch` columns, and `ensemble`, `rate`, `weight_decay` where a row belongs
to one ensemble, so tables of several (dataset, arch) pairs can simply be concatenated.
"""

import logging

import pandas as pd

from memgen.analysis.definitions import compare_definitions
from memgen.analysis.sampling_bias import COLUMNS as SAMPLING_BIAS_COLUMNS
from memgen.analysis.sampling_bias import loo_bias, sampling_bias
from memgen.analysis.stability import stability
from memgen.errors import fail
from memgen.io import load_npz, read_csv, save_csv
from memgen.scores.thresholds import read_scores

log = logging.getLogger(__name__)
WHERE = ["dataset", "arch"]
ENSEMBLE = ["ensemble", "rate", "weight_decay"]
# Stability pairs points held out by at least one member of each group; config min_out (~10) would leave
# small groups (4 members at rate 0.95 hold out ~0.2 per point) with no point at all.
STABILITY_MIN_OUT = 1


def _meta(analysis: dict, name: str) -> dict:
    """rate and weight decay of one ensemble, from the rule's params."""
    ensembles = analysis["ensembles"]
    if name not in ensembles:
        raise fail(
            f"ensemble {name!r} has scores but no entry in the analysis params {sorted(ensembles)}",
            "score only ensembles listed under `ensembles` in the config",
        )
    return {
        "ensemble": name,
        "rate": float(ensembles[name]["rate"]),
        "weight_decay": float(ensembles[name]["weight_decay"]),
    }


def ensemble_order(names, analysis: dict) -> list[str]:
    """Ensembles by rate, then weight decay, then name: the order of rows and of legends."""
    return sorted(names, key=lambda n: (_meta(analysis, n)["rate"], _meta(analysis, n)["weight_decay"], n))


def _tag(df: pd.DataFrame, dataset: str, arch: str, meta: dict | None = None) -> pd.DataFrame:
    front = {"dataset": dataset, "arch": arch, **(meta or {})}
    return df.assign(**front)[[*front, *(c for c in df.columns if c not in front)]]


def write_definitions(score_paths: dict, out_path, analysis: dict, dataset: str, arch: str) -> None:
    """definitions.csv: FPR@95%TPR, AUROC, AUPR of every definition per ensemble (canaries = positives),
    over all canaries and over the canaries the members fit (column `canaries`).

    score_paths: ensemble name -> scores.csv. analysis: {ensembles: {name: {rate, weight_decay, plain}},
    min_out, ...}. Columns: dataset, arch, ensemble, rate, weight_decay, then
    memgen.analysis.definitions.COLUMNS; rows by rate, weight decay, ensemble, then canaries (all, fit), then
    definition (DEFINITIONS).
    """
    tables = [
        _tag(
            compare_definitions(read_scores(score_paths[name]), analysis["min_out"]),
            dataset,
            arch,
            _meta(analysis, name),
        )
        for name in ensemble_order(score_paths, analysis)
    ]
    save_csv(out_path, pd.concat(tables, ignore_index=True))


def write_sampling_bias(
    score_paths: dict, out_path, analysis: dict, dataset: str, arch: str, loo_path=None
) -> None:
    """sampling_bias.csv: mean |score at rate r − reference score| of natural points, per ensemble and
    definition; with loo_path (loo.csv), also |score − exact leave-one-out score| on its points, the
    reference ensemble's own error included (memgen.analysis.sampling_bias.loo_bias).

    Only ensembles trained with the plain recipe (`plain`: no training overrides) enter, plus the
    reference: a weight-decay variant's error would mix regularization with sampling rate.
    Columns: dataset, arch, reference, ensemble, rate, weight_decay, then the rest of
    memgen.analysis.sampling_bias.COLUMNS (mae and its interval, std_abs_error, n_points, truth_se, the
    noise-corrected mse, members).
    """
    reference = analysis["reference"]
    names = [n for n in score_paths if n == reference or analysis["ensembles"].get(n, {}).get("plain")]
    scores = {n: read_scores(score_paths[n]) for n in names}
    rates = {n: _meta(analysis, n)["rate"] for n in names}
    df = sampling_bias(scores, rates, reference)
    loo = loo_bias(scores, rates, read_csv(loo_path, ("index", "chosen")), reference) if loo_path else None
    if loo is not None and not loo.empty:  # empty: leave-one-out skipped on this dataset
        df = pd.concat([df, loo], ignore_index=True)
    wd = {n: _meta(analysis, n)["weight_decay"] for n in names}
    df = df.assign(reference=reference, weight_decay=df["ensemble"].map(wd).astype(float))
    df = _tag(
        df[["reference", *ENSEMBLE, *(c for c in SAMPLING_BIAS_COLUMNS if c not in ENSEMBLE)]], dataset, arch
    )
    save_csv(out_path, df)


def write_stability(masks_path, correct_path, out_path, analysis: dict, dataset: str, arch: str) -> dict:
    """stability.csv: mean pairwise Spearman ρ between disjoint sub-ensembles of the reference ensemble,
    per definition and group size (App. A.1, Fig. 9).

    masks_path: masks.npz (`mask` bool [K, N]); correct_path: correct.npz (`correct` bool [K, N]).
    Columns: dataset, arch, ensemble, rate, weight_decay, members (K), then memgen.analysis.stability.COLUMNS.
    """
    mask = load_npz(masks_path, ("mask",))["mask"].astype(bool)
    scored = load_npz(correct_path, ("correct",))
    correct = scored["correct"].astype(bool)
    if mask.ndim != 2 or mask.shape != correct.shape:
        raise fail(
            f"{masks_path} holds a mask of shape {mask.shape} but {correct_path} a correctness of shape "
            f"{correct.shape}; both must be [members, points] of the same ensemble",
            f"rerun the scores rule of that ensemble: snakemake --forcerun {correct_path}",
        )
    df = stability(
        mask,
        correct,
        analysis["stability_sizes"],
        analysis["seed"],
        min_out=STABILITY_MIN_OUT,
        log_odds=scored.get("log_odds"),  # conf and lira; a correct.npz without them gives fz and frac only
    )
    meta = {**_meta(analysis, analysis["reference"]), "members": int(mask.shape[0])}
    save_csv(out_path, _tag(df, dataset, arch, meta))
    return {"seeds": {"stability": analysis["seed"]}}  # provenance for memgen.workflow.run
