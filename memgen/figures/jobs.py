"""The figures' jobs, file to file: each `write_fig_*` reads the artifacts a figure shows, has the stage
that owns them compute what it draws, and hands that to a `fig_*` function of memgen.figures, which only
draws. Figures run last, so these jobs may call any stage (tests/test_layering.py).

Measurement (Fig. 1, 2, 3, 7, 8, 9), the gallery of memorized.csv, Fig. 12 and 13 (scores with their
intervals, the test rule), the gallery of influence pairs, and the utility study (Fig. 4, 5, 10, 11).
"""

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from memgen.analysis.definitions import COLUMNS as DEFINITION_COLUMNS
from memgen.analysis.definitions import detection
from memgen.analysis.jobs import ENSEMBLE, WHERE, ensemble_order
from memgen.analysis.memorized import read_memorized
from memgen.analysis.memorized_jobs import memorized_tau, thresholds_entry
from memgen.analysis.sampling_bias import COLUMNS as SAMPLING_BIAS_COLUMNS
from memgen.analysis.stability import COLUMNS as STABILITY_COLUMNS
from memgen.data.index import load_index, point_paths
from memgen.data.loaders import folder_base, load_dataset
from memgen.ensemble.duplicates import load_duplicate_list
from memgen.errors import fail
from memgen.figures.fdr import fig_fdr
from memgen.figures.gallery import as_image, fig_gallery, proxy_caption
from memgen.figures.influence import fig_influence
from memgen.figures.intervals import fig_intervals
from memgen.figures.measurement import (
    LINESTYLES,
    fig_curves,
    fig_fpr,
    fig_null,
    fig_sampling_bias,
    fig_stability,
    fig_sweep,
)
from memgen.figures.proxies import fig_proxies, proxies_title
from memgen.figures.style import message_figure
from memgen.figures.utility import fig_removed_scores, fig_seed_curve, fig_top_memorized, fig_utility
from memgen.influence.jobs import read_influence
from memgen.influence.leakage import strongest_pairs
from memgen.io import load_json, read_csv
from memgen.scores.compute import DEFINITIONS
from memgen.scores.intervals import INTERVAL_COLUMNS, ranked_intervals
from memgen.scores.thresholds import null_and_natural, read_scores, score_groups
from memgen.utility.jobs import read_score_table, read_table3, read_utility
from memgen.utility.nearest import leakage_pairs
from memgen.utility.removal import load_removal
from memgen.utility.stats import seed_curve

# Fig. 4 of the paper shows Feldman & Zhang's own scores (Eq. 1), so the leakage figure ranks by fz.
LEAKAGE_DEFINITION = "fz"
LEAKAGE_PAIRS = 8
# Fig. 12: the definitions with an interval (memgen.scores.intervals.INTERVAL_DEFINITIONS), one column each
INTERVAL_PANELS = ("frac", "fz")


# ---- measurement (Fig. 1, 2, 3, 7, 8, 9) -----------------------------------------------------------------
def _concat(paths, columns) -> pd.DataFrame:
    """One table from the per-(dataset, arch) tables of a figure, in the order given."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not paths:
        raise fail(
            "a figure was given no input tables", "list at least one (dataset, arch) pair in the config"
        )
    return pd.concat([read_csv(p, (*WHERE, *columns)) for p in paths], ignore_index=True)


def write_fig_sampling_bias(csv_paths, png, pdf) -> None:
    """Fig. 1 from the sampling_bias.csv of every (dataset, arch) pair."""
    fig_sampling_bias(_concat(csv_paths, SAMPLING_BIAS_COLUMNS), [png, pdf])


def write_fig_fpr(csv_paths, png, pdf) -> None:
    """Fig. 2 from the definitions.csv of every (dataset, arch) pair."""
    fig_fpr(_concat(csv_paths, [*ENSEMBLE, *DEFINITION_COLUMNS]), [png, pdf])


def sweep_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of the rates that were trained with at least two weight decays, per (dataset, arch):
    a rate with one weight decay is a single point, not a sweep. All rows when no rate has two."""
    counts = df.groupby([*WHERE, "rate"])["weight_decay"].transform("nunique")
    swept = df[counts >= 2]
    return swept if not swept.empty else df


def write_fig_sweep(csv_paths, png, pdf) -> None:
    """Fig. 8 from the definitions.csv of every (dataset, arch) pair: FPR vs weight decay."""
    df = _concat(csv_paths, [*ENSEMBLE, *DEFINITION_COLUMNS])
    fig_sweep(sweep_rows(df), [png, pdf])


def write_fig_stability(csv_paths, png, pdf) -> None:
    """Fig. 9 from the stability.csv of every (dataset, arch) pair."""
    fig_stability(_concat(csv_paths, STABILITY_COLUMNS), [png, pdf])


def write_fig_null(scores_path, thresholds_path, png, pdf, definitions=DEFINITIONS) -> None:
    """Fig. 3: canary (null) and natural score histograms of the reference ensemble with both thresholds,
    one panel per definition (every one: the figure does not depend on which the ablation picks)."""
    thresholds = load_json(thresholds_path)
    missing = [k for k in ("min_out", "alpha", "tail", "null_size", "rules") if k not in thresholds]
    if missing:
        raise fail(
            f"{thresholds_path} lacks keys {missing}; it was made by another version or rule",
            f"delete it and rerun: snakemake --forcerun {thresholds_path}",
        )
    groups = score_groups(read_scores(scores_path), definitions, thresholds["min_out"])
    fig_null(groups, thresholds, [png, pdf])


def curve_ensembles(analysis: dict, names) -> list[str]:
    """The ensembles Fig. 7 draws: those of the plain recipe (the rate sweep; Fig. 8 covers weight decay),
    by rate. Line styles tell ensembles apart, so beyond len(LINESTYLES) an evenly spaced subset is
    kept, always with the lowest and highest rate."""
    plain = ensemble_order([n for n in names if analysis["ensembles"].get(n, {}).get("plain")], analysis)
    plain = plain or ensemble_order(names, analysis)
    if len(plain) <= len(LINESTYLES):
        return plain
    picks = np.unique(np.round(np.linspace(0, len(plain) - 1, len(LINESTYLES))).astype(int))
    return [plain[i] for i in picks]


def write_fig_curves(score_paths: dict, png, pdf, analysis: dict) -> None:
    """Fig. 7: ROC and precision-recall curves of canary detection, per definition and ensemble."""
    names = curve_ensembles(analysis, score_paths)
    min_out = analysis["min_out"]
    fig_curves({n: detection(read_scores(score_paths[n]), min_out) for n in names}, min_out, [png, pdf])


# ---- galleries: memorized.csv, influence pairs ---------------------------------------------------------
def images(dataset: str, spec: dict, idx: dict, split: str = "train"):
    """image(index, path) of a training (or, split "test", original test) point for a gallery: an image
    folder's file as it is on disk (a thumbnail, read when drawn: never the whole folder), else the
    dataset's in-memory pixels (bundled digits, CIFAR)."""
    if "train_path" in idx:
        from memgen.data.stream import open_image

        base = folder_base(dataset, spec, Path(spec.get("data_root", "data")))

        def from_file(i, path):
            from PIL import Image

            img = open_image(base / path)
            img.thumbnail((160, 160))
            # on a white square, so that every caption of a row sits at the same height
            square = Image.new("RGB", (max(img.size),) * 2, (255, 255, 255))
            square.paste(img, ((square.width - img.width) // 2, (square.height - img.height) // 2))
            return np.asarray(square), None

        return from_file
    ds = load_dataset(dataset, spec, spec.get("data_root", "data"))
    x = ds.x_train if split == "train" else ds.tests["original"][0]
    return lambda i, path: as_image(x[[i]][0])


def _fmt(tau) -> str:
    return "undefined" if tau is None else f"{tau:.3g}"


def write_fig_gallery(
    memorized_path, thresholds_path, index_path, dataset: str, arch: str, spec, paths, params
):
    """The gallery figure (memgen.figures.gallery) of memorized.csv; a message figure when it is empty.

    spec: the dataset's loader spec (rules/common.smk dataset_params, pixels of non-folder datasets);
    params: as memgen.analysis.memorized_jobs.write_memorized's (which set, to say it in the title).
    """
    table = read_memorized(memorized_path)
    tau, note, _ = memorized_tau(thresholds_path, params)
    entry = thresholds_entry(thresholds_path, params)[1] if tau is not None else {}
    tie = (entry.get("tau_ties") or {}).get("text") if tau is not None else None
    what = f"{params['ensemble']}, {params['definition']} ≥ τ"
    if tau is None:
        empty = f"{dataset}/{arch}: the memorized set ({what}) is undefined.\n{note or 'τ is undefined.'}"
    else:
        empty = f"{dataset}/{arch}: no training point is memorized ({what} = {tau:.3g}).\n{note}"
    image = images(dataset, spec, load_index(index_path)) if len(table) else None
    fig_gallery(
        table,
        image,
        paths,
        title=f"Most memorized training images per class: {dataset}/{arch}, {what} = {_fmt(tau)}\n"
        "caption: file; given label, score (= τ: a tie); how many held-out members predict which other class"
        + ("; for a tie, whether conf and lira memorize it too" if tie else ""),
        empty=empty,
        tie=f"τ rests on a tie: {tie}" if tie else None,
    )


def gallery_title(dataset: str, arch: str, summary: dict) -> str:
    """The gallery's title: the ensemble, its size, and the real bar of a high-influence pair at that size."""
    bar = summary["min_flaggable_infl"]
    bar_text = f"infl ≥ {bar:.2f}" if bar is not None else "none possible"
    return (
        f"Strongest influence pairs: {dataset}/{arch}, {summary['ensemble']} ({summary['members']} members, "
        f"{summary['n_in']} in / {summary['n_out']} out per training point); high-influence = infl ≥ "
        f"{summary['threshold']} and exact p ≤ {summary['alpha']} (Bonferroni over "
        f"{summary['tested_pairs']:,} pairs): {bar_text} at this size"
    )


def write_fig_influence(
    influence_path, summary_path, index_path, dataset: str, arch: str, spec: dict, paths, params
) -> None:
    """The gallery of the strongest pairs (memgen.figures.influence); a message figure without pairs.

    spec: the dataset's loader spec (pixels of non-folder datasets); params: ensemble, gallery, threshold,
    alpha (memgen.params.influence_gallery); the title's bar is influence.json's.
    """
    n = params["gallery"]
    table = read_influence(influence_path, rows=partial(strongest_pairs, n=n))  # each chunk's strongest n
    idx = load_index(index_path)
    image = {s: images(dataset, spec, idx, s) for s in ("train", "test")} if len(table) else None
    title = gallery_title(dataset, arch, load_json(summary_path))
    shown = strongest_pairs(table, n)
    fig_influence(shown, image, paths, title, n_high=table.attrs["high"], n_kept=table.attrs["rows"])


def write_fig_proxy_gallery(flagged_path, index_path, dataset: str, arch: str, spec, paths, flag: dict):
    """A proxy audit's gallery (memgen.figures.gallery) of memorized_proxy.csv, captioned with the proxy."""
    table = pd.read_csv(flagged_path, dtype={"path": str, "label_name": str}, keep_default_na=False)
    what = f"proxy {flag['proxy']} ({'mean of the proxy models' if flag['models'] == 'all' else 'one model'})"
    tau = table["tau"].iloc[0] if len(table) else None
    image = images(dataset, spec, load_index(index_path)) if len(table) else None
    fig_gallery(
        table,
        image,
        paths,
        title=f"Training images a proxy flags per class: {dataset}/{arch}, {what} at least as extreme as "
        f"all but {flag['alpha']:g} of the canaries\ncaption: file; given label, proxy value (a proxy from a "
        "few trainings, not the ensemble's estimate)",
        empty=f"{dataset}/{arch}: the {what} flags no natural point against its canaries.",
        caption_of=partial(proxy_caption, name=flag["proxy"], tau=tau),
        noun="flagged",
        source="memorized_proxy.csv",
    )


def write_fig_proxies(validation_path, dataset: str, arch: str, paths) -> None:
    """The proxies' validation (memgen.figures.proxies), titled with their cost."""
    table = pd.read_csv(validation_path, dtype={"models": str})
    fig_proxies(table, proxies_title(dataset, arch, table), paths)


# ---- scores: Fig. 12 and 13 ------------------------------------------------------------------------------
def write_fig_fdr(fdr_path, thresholds_path, png, pdf) -> None:
    """The test rule's set size and canary power against q, with Eq. 3's counts (fdr.csv, thresholds.json)."""
    fig_fdr(read_csv(fdr_path, ("q", "n_flagged", "canary_power")), load_json(thresholds_path), [png, pdf])


def write_fig_intervals(scores_path, thresholds_path, level: float, png, pdf) -> None:
    """Fig. 12 of one ensemble (the reference): scores.csv's intervals, thresholds.json's τ (null rule)."""
    scores = read_scores(scores_path)
    missing = [c for c in INTERVAL_COLUMNS if c not in scores.columns]
    if missing:
        raise fail(
            f"{scores_path} lacks the interval columns {missing}; it was made before intervals existed",
            f"rerun the scores rule: snakemake --forcerun {scores_path}",
        )
    thresholds = load_json(thresholds_path)
    null, natural = null_and_natural(scores, thresholds["min_out"])
    panels = {
        d: (ranked_intervals(scores, d, natural), ranked_intervals(scores, d, null)) for d in INTERVAL_PANELS
    }
    fig_intervals(panels, thresholds, level, [png, pdf])


# ---- utility (Fig. 4, 5, 10, 11) -------------------------------------------------------------------------
def write_fig_leakage(scores_path, duplicates_path, dataset: str, spec: dict, paths, index_path=None) -> None:
    """Fig. 4: highest-scoring training points (reference ensemble, fz) with a test near-duplicate, named
    by their files where the index lists them."""
    ds = load_dataset(dataset, spec, data_root=spec.get("data_root", "data"))
    scores = read_score_table(scores_path)
    listed = load_duplicate_list(duplicates_path)
    x_test = ds.tests["original"][0]
    pairs = leakage_pairs(scores, ds.x_train, x_test, listed, LEAKAGE_DEFINITION, LEAKAGE_PAIRS)
    idx = load_index(index_path) if index_path else None
    fig_top_memorized(
        ds.x_train,
        x_test,
        scores,
        pairs,
        LEAKAGE_DEFINITION,
        LEAKAGE_PAIRS,
        paths,
        train_names=point_paths(idx) if idx else None,
        test_names=point_paths(idx, "test") if idx else None,
        title=f"Highest-scoring training points ({LEAKAGE_DEFINITION}, Eq. 1) above their closest test image "
        "(pixel cosine distance; '(listed)' = in the duplicate list)",
    )


def write_fig_utility(table3_path, paths) -> None:
    """Fig. 5 from results/table3.csv."""
    fig_utility(read_table3(table3_path), paths)


def write_fig_removed(scores_path, removal_path, definition: str, paths) -> None:
    """Fig. 10: scores of the removed points; the panel is named after the removal id (file stem)."""
    scores = read_score_table(scores_path)
    sets = load_removal(removal_path)
    if sets.get("n_train", len(scores)) != len(scores):
        raise fail(
            f"{removal_path} was drawn from {sets['n_train']} training points, "
            f"{scores_path} has {len(scores)}",
            "pass the scores of the ensemble the removal set was chosen on",
        )
    fig_removed_scores(scores, {Path(removal_path).stem: sets}, definition, paths)


def write_fig_seeds(utility_path, paths) -> None:
    """Fig. 11: Score and p against the number of utility seeds, 2..M (first n seeds by seed id).

    With no runs (empty memorized set) or fewer than 2 seeds the figure says so instead of a curve.
    """
    u = read_utility(utility_path)
    if u["utility"] is None:
        message_figure(f"No utility runs: {u['reason']}", paths)
        return
    m = len(u["utility"])
    if m < 2:
        message_figure(f"Only {m} utility seed: a seed curve needs at least 2.", paths)
        return
    fig_seed_curve(seed_curve(u["utility"], range(2, m + 1)), paths)
