"""Figures of the measurement part of the study (paper Fig. 1, 2, 3, 7, 8, 9).

Tables may hold one or several (dataset, arch) combinations, told apart by `dataset` / `arch` columns
when the caller adds them: each combination gets its own panel.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from memgen.analysis.definitions import CANARY_SUBSETS, FIT_ACC_IN
from memgen.figures.style import DEFINITION_LABELS, PALETTE, save_figure, setup
from memgen.scores.compute import DEFINITIONS

LINESTYLES = ["-", "--", ":", "-."]
MARKERS = ["o", "s", "^", "D", "v"]


def _panels(df: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """(title, rows) per (dataset, arch) combination present; one untitled panel when none is named."""
    keys = [c for c in ("dataset", "arch") if c in df.columns]
    if not keys or df.empty:
        return [("", df)]
    return [
        (" / ".join(map(str, k if isinstance(k, tuple) else (k,))), g) for k, g in df.groupby(keys, sort=True)
    ]


def _grid(n: int, width: float = 5.0, height: float = 3.8):
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _no_data(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes)


def _span(values) -> str:
    """'n' or 'lo–hi' of a count column, for legends."""
    values = pd.Series(values).dropna().astype(int)
    if values.empty:
        return "0"
    lo, hi = values.min(), values.max()
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _lines_with_band(ax, df: pd.DataFrame, x: str, y: str, std: str, count, lower=None) -> None:
    """One line per definition (y against x) with a +-1 std band; `count(d)` goes in the legend label."""
    for definition in DEFINITIONS:
        d = df[df["definition"] == definition].sort_values(x)
        if d.empty:
            continue
        color = PALETTE[definition]
        ax.plot(d[x], d[y], marker="o", color=color, label=f"{DEFINITION_LABELS[definition]} ({count(d)})")
        sd = d[std].fillna(0.0)
        ax.fill_between(d[x], (d[y] - sd).clip(lower=lower), d[y] + sd, color=color, alpha=0.15)


def _titled(fig, axes, panels, suptitle: str) -> None:
    for ax, (title, _) in zip(axes, panels, strict=True):
        if title:
            ax.set_title(title)
    fig.suptitle(suptitle)
    fig.tight_layout()


def _sb_lines(ax, df: pd.DataFrame, reference: str | None) -> None:
    """Sampling-bias lines per definition (mae vs rate) with their 95 % intervals over points, each
    definition nudged sideways so the bars stay apart; the reference ensemble's point starred."""
    for j, definition in enumerate(DEFINITIONS):
        d = df[df["definition"] == definition].sort_values("rate")
        if d.empty:
            continue
        color, x = PALETTE[definition], d["rate"] + 0.008 * (j - (len(DEFINITIONS) - 1) / 2)
        ax.plot(x, d["mae"], marker="o", color=color, label=DEFINITION_LABELS[definition])
        if {"mae_lo", "mae_hi"} <= set(d.columns):
            bars = np.vstack([d["mae"] - d["mae_lo"], d["mae_hi"] - d["mae"]]).clip(min=0)
            ax.errorbar(x, d["mae"], yerr=np.nan_to_num(bars), fmt="none", ecolor=color, capsize=2, lw=1)
        ref = d["ensemble"] == reference
        ax.plot(x[ref], d["mae"][ref], marker="*", ms=15, mec="black", mew=0.8, color=color, ls="none")


def _loo_panels(axes, df: pd.DataFrame, where: str) -> None:
    """Fig. 1's middle and right panels: each rate's error against exact leave-one-out on its random sample
    and on its top points, with 95 % intervals; dashed, the error net of the truth's own noise
    (rmse_corrected); the reference ensemble (whole on the random points, on the top ones cross-fitted: each
    half on the points the other ranked highest) starred."""
    reference = df["reference"].iloc[0] if "reference" in df.columns and not df.empty else None
    for ax, points, what in zip(
        axes, ("random", "top"), ("random sample", "top of either reference half"), strict=False
    ):
        vs_loo = df[(df["against"] == "loo") & (df["points"] == points)]
        if vs_loo.empty:
            _no_data(ax, "leave-one-out (dataset above loo.max_train_points)")
        else:
            _sb_lines(ax, vs_loo, reference)
            _corrected_lines(ax, vs_loo)
        se = vs_loo["truth_se"].mean() if not vs_loo.empty else math.nan
        ax.set_title(
            f"{where}against exact leave-one-out\n{what}: {_span(vs_loo['n_points'])} points\n"
            f"(bars: 95 % intervals; dashed: net of LOO's se ≈ {se:.2f})",
            fontsize="medium",
        )
        ax.set_ylabel("mean |score − LOO score|\n(score units)")


def _corrected_lines(ax, df: pd.DataFrame) -> None:
    """Per definition, dashed: sqrt(MSE − LOO's own se²), the error the truth's noise does not explain."""
    if "rmse_corrected" not in df.columns:  # a table from before the corrected error
        return
    for j, definition in enumerate(DEFINITIONS):
        d = df[df["definition"] == definition].sort_values("rate")
        if d.empty or d["rmse_corrected"].isna().all():
            continue
        x = d["rate"] + 0.008 * (j - (len(DEFINITIONS) - 1) / 2)
        ax.plot(x, d["rmse_corrected"], ls="--", lw=1, marker="x", ms=4, color=PALETTE[definition])


def fig_sampling_bias(df_sampling_bias: pd.DataFrame, paths) -> None:
    """Fig. 1, one row per (dataset, arch): the mean absolute score error of each rate against the
    reference ensemble (every natural point, ±1 std band) and against exact leave-one-out (loo.csv) on
    its random sample and on its top points, where the reference's own error is the starred point."""
    setup()
    df_all = df_sampling_bias
    if "against" not in df_all.columns:  # a table from before leave-one-out: every row is vs the reference
        df_all = df_all.assign(against="reference", points="all")
    panels = _panels(df_all)
    has_loo = (df_all["against"] == "loo").any()
    ncols = 3 if has_loo else 1
    fig, grid = plt.subplots(len(panels), ncols, figsize=(4.6 * ncols, 3.9 * len(panels)), squeeze=False)
    for row, (title, df) in zip(grid, panels, strict=True):
        where = f"{title}: " if title else ""
        vs_ref = df[df["against"] == "reference"]
        ax = row[0]
        if vs_ref.empty:
            _no_data(ax, "non-reference ensemble")
        else:
            _lines_with_band(ax, vs_ref, "rate", "mae", "std_abs_error", lambda d: "", lower=0)
            for line in ax.get_lines():  # the legend below names the definitions once
                line.set_label("_")
        n = _span(vs_ref["n_points"])
        ax.set_title(f"{where}against the reference ensemble\n(all {n} natural points; band ± 1 std)")
        ax.set_ylabel("mean |score − reference score|\n(score units)")
        _loo_panels(row[1:], df, where)
        lo, hi = df["rate"].min(), df["rate"].max()
        for ax in row:  # one rate axis per row: the reference's rate shows on every panel
            ax.set_xlabel("sampling rate r (share of the training set per member)")
            ax.set_xlim(lo - 0.04, hi + 0.04)
            ax.set_ylim(bottom=-0.03 * ax.get_ylim()[1])  # a star at 0 error stays whole
    handles = [
        plt.Line2D([], [], color=PALETTE[d], marker="o", label=DEFINITION_LABELS[d])
        for d in DEFINITIONS
        if d in set(df_all["definition"])
    ]
    if has_loo:
        handles.append(
            plt.Line2D(
                [],
                [],
                marker="*",
                ms=12,
                mec="black",
                color="white",
                ls="none",
                label="reference ensemble (vs LOO: whole on random points, half B on top points)",
            )
        )
        handles.append(
            plt.Line2D([], [], color="grey", ls="--", marker="x", label="√(MSE − LOO's own se²) (vs LOO)")
        )
    fig.suptitle("Sampling bias: per-point score error by sampling rate")
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 5))
    save_figure(fig, paths)


def _ensemble_order(df: pd.DataFrame) -> list[str]:
    keys = [c for c in ("rate", "weight_decay", "ensemble") if c in df.columns]
    return list(dict.fromkeys(df.sort_values(keys)["ensemble"]))


def fig_fpr(df_definitions: pd.DataFrame, paths) -> None:
    """Fig. 2: FPR at 95 % TPR per definition, one bar group per ensemble; one row of panels per
    (dataset, arch), one column per canary subset (all canaries, the canaries members fit)."""
    setup()
    df_all = df_definitions if "canaries" in df_definitions else df_definitions.assign(canaries="all")
    panels = _panels(df_all)
    subsets = [c for c in CANARY_SUBSETS if (df_all["canaries"] == c).any()] or ["all"]
    n_ens = df_all.get("ensemble", pd.Series()).nunique()
    fig, grid = plt.subplots(
        len(panels), len(subsets), figsize=(max(5.0, 1.6 * n_ens) * len(subsets), 4.2 * len(panels)),
        squeeze=False, sharey=True,
    )  # fmt: skip
    for row, (title, rows) in zip(grid, panels, strict=True):
        for ax, subset in zip(row, subsets, strict=True):
            df = rows[rows["canaries"] == subset]
            what = "all canaries" if subset == "all" else f"canaries fit (acc_in ≥ {FIT_ACC_IN:g})"
            ax.set_title(f"{title}: {what}" if title else what)
            if df.empty or df["fpr_at_95tpr"].isna().all():
                _no_data(ax, "definition comparison (a class is absent)")
                continue
            shown = [d for d in DEFINITIONS if df.loc[df["definition"] == d, "fpr_at_95tpr"].notna().any()]
            df = df[df["definition"].isin(shown)].assign(label=df["definition"].map(DEFINITION_LABELS))
            sns.barplot(
                data=df,
                x="ensemble",
                y="fpr_at_95tpr",
                hue="label",
                order=_ensemble_order(df),
                hue_order=[DEFINITION_LABELS[d] for d in shown],
                palette={DEFINITION_LABELS[d]: PALETTE[d] for d in shown},
                ax=ax,
            )
            for container in ax.containers:  # upright labels would overlap at four bars per group
                ax.bar_label(container, fmt="%.2f", fontsize="x-small", rotation=90, padding=2)
            ax.set_ylim(0, 1.18)  # room for the labels of bars at 1.00
            ax.set_yticks(np.linspace(0, 1, 6))
            ax.set_xlabel(
                f"ensemble (n = {_span(df['n_canaries'])} canaries, {_span(df['n_natural'])} natural points)"
            )
            ax.set_ylabel("FPR at 95 % TPR\n(share of natural points flagged)")
            ax.tick_params(axis="x", labelrotation=30)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
            ax.get_legend().remove()
    axes = list(grid.flat)
    # one legend, outside the top right panel, so it never hides a bar
    handles = max((ax.get_legend_handles_labels() for ax in axes), key=lambda hl: len(hl[0]))
    if handles[0]:
        grid[0, -1].legend(
            *handles, title="definition", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1)
        )
    fig.suptitle("Natural points flagged when the threshold catches 95 % of canaries (lower is better)")
    fig.tight_layout()
    save_figure(fig, paths)


def _tau_line(r: dict, rule: str, thresholds: dict) -> str:
    """One line of a Fig. 3 panel's box: τ of a rule, the memorized count, and the ties at τ."""
    name = f"null ({thresholds['tail']}, α = {thresholds['alpha']:g})" if rule == "null" else "fixed"
    if r.get("tau") is None:
        return f"τ {name}: undefined"
    share = "" if r.get("fraction_memorized") is None else f" ({r['fraction_memorized']:.1%})"
    ties = r.get("tau_ties") or {}
    tie = ""
    if ties.get("rests_on_ties"):
        tie = f"; ties at τ: {ties['canaries']} canaries, {ties['natural']} natural"
    return f"τ {name} = {r['tau']:.3g}: {r['n_memorized']} memorized{share}{tie}"


def fig_null(groups: dict, thresholds: dict, paths) -> None:
    """Fig. 3: score histograms of canaries (the null) and natural points, with τ of both rules, one
    panel per definition of `groups` ({definition: {"null": scores, "natural": scores}} of the scored
    points: memgen.scores.thresholds.score_groups)."""
    setup()
    shown = list(groups)
    ncols = min(len(shown), 2)  # four definitions: a 2 x 2 grid
    nrows = math.ceil(len(shown) / ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.0 * nrows + 0.8), squeeze=False)
    for ax in grid.flat[len(shown) :]:
        ax.set_visible(False)
    axes = list(grid.flat[: len(shown)])
    bins = np.linspace(-1, 1, 41)  # every definition lies in [-1, 1]; 0.05-wide bins
    rule_style = {"null": ("red", "--"), "fixed": ("black", ":")}
    for ax, definition in zip(axes, shown, strict=True):
        null, natural = groups[definition]["null"], groups[definition]["natural"]
        for data, label, color in [
            (natural, f"natural points (n = {natural.size})", PALETTE["random"]),
            (null, f"canaries = null (n = {null.size})", PALETTE["memorized"]),
        ]:
            data = data[~np.isnan(data)]
            if data.size:
                # share of the group per bin: a spike of tied canaries at 1.0 and a broad natural
                # bulk near 0 both stay readable on a log axis
                ax.hist(data, bins=bins, weights=np.full(data.size, 1 / data.size), alpha=0.55,
                        color=color, label=label)  # fmt: skip
            else:
                ax.plot([], [], " ", label=f"{label}: none scored")
        lines = []
        for rule, (color, ls) in rule_style.items():
            r = thresholds["rules"][rule].get(definition, {"tau": None})
            lines.append(_tau_line(r, rule, thresholds))
            if r.get("tau") is not None:
                ax.axvline(r["tau"], color=color, ls=ls, lw=1.8)
        ax.set_yscale("log")
        ax.set_xlim(-1.05, 1.05)
        ax.set_ylim(top=ax.get_ylim()[1] * 30)  # headroom for the τ box above the bars
        ax.set_xlabel(f"memorization score: {DEFINITION_LABELS[definition]}")
        ax.set_ylabel("share of the group per bin\n(log scale)")
        box = {"facecolor": "white", "alpha": 0.85, "edgecolor": "none"}
        ax.text(0.02, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", fontsize="x-small", bbox=box)
    handles, labels = axes[0].get_legend_handles_labels()
    handles += [plt.Line2D([], [], color=c, ls=ls, lw=1.8) for c, ls in rule_style.values()]
    labels += ["τ, null rule (score ≥ τ is memorized)", "τ, fixed rule (fz, frac only)"]
    fig.legend(handles, labels, fontsize="small", loc="lower center", ncol=2, bbox_to_anchor=(0.5, 0))
    fig.suptitle(
        f"Null-based threshold: canary vs natural scores, {thresholds.get('ensemble', 'reference')} "
        f"(min_out = {thresholds['min_out']})"
    )
    fig.tight_layout(rect=(0, 0.6 / fig.get_figheight(), 1, 1))  # the legend sits below the panels
    save_figure(fig, paths)


def _metric_table(ax, metrics: pd.DataFrame) -> None:
    """AUROC and AUPR per definition, over all / fit canaries, as a small table under a Fig. 7 column
    (outside the axes: inside, it would cover curves somewhere whatever the corner)."""
    m = metrics.set_index(["definition", "canaries"])
    lines = ["       AUROC all / fit   AUPR all / fit"]
    for d in DEFINITIONS:
        if m.loc[(d, "all"), "auroc"] == m.loc[(d, "all"), "auroc"]:  # not NaN
            auroc = f"{m.loc[(d, 'all'), 'auroc']:.3f} / {m.loc[(d, 'fit'), 'auroc']:.3f}"
            aupr = f"{m.loc[(d, 'all'), 'aupr']:.3f} / {m.loc[(d, 'fit'), 'aupr']:.3f}"
            lines.append(f"{d:>5}  {auroc:>15}   {aupr:>14}")
    n = m.loc[(DEFINITIONS[0], "all")]
    n_fit = m.loc[(DEFINITIONS[0], "fit"), "n_canaries"]
    lines.append(f"{int(n['n_canaries'])} canaries ({int(n_fit)} fit), {int(n['n_natural'])} natural points")
    ax.text(0.5, -0.2, "\n".join(lines), transform=ax.transAxes, fontsize="small", family="monospace",
            va="top", ha="center")  # fmt: skip


def fig_curves(detection_by_ens: dict[str, dict], min_out: int, paths) -> None:
    """Fig. 7: ROC (top row) and precision-recall (bottom row) curves of canary detection, one column per
    ensemble, one colour per definition; solid over all canaries, dashed over the canaries members fit.
    The ROC's FPR axis is logarithmic (as LiRA's): every definition nears TPR 1 within a few % FPR.
    detection_by_ens: ensemble -> memgen.analysis.definitions.detection (metrics, curves, n_natural)."""
    setup()
    n = max(len(detection_by_ens), 1)
    fig, grid = plt.subplots(2, n, figsize=(3.8 * n + 0.4, 8.2), squeeze=False, sharex="row", sharey="row")
    subset_style = {"all": "-", "fit": "--"}
    n_natural = [d["n_natural"] for d in detection_by_ens.values()]
    lo = 0.5 / max(min(n_natural, default=1), 1)  # half of one natural point: FPR 0 is drawn there
    for col, (name, data) in enumerate(detection_by_ens.items()):
        roc, pr = grid[0, col], grid[1, col]
        metrics = data["metrics"]
        roc.set_title(name)
        drawn = False
        for subset, ls in subset_style.items():
            for definition in DEFINITIONS:
                c = data["curves"][(subset, definition)]
                if c["fpr"].size == 0:
                    continue
                drawn = True
                color, lw = PALETTE[definition], 1.4 if subset == "all" else 1.0
                # from the first threshold on: the (0, 0) corner has no place on a log axis, and a line
                # from it would draw a tie block's chance interpolation as if it were a curve
                first = (c["fpr"] > 0) | (c["tpr"] > 0)
                roc.plot(np.maximum(c["fpr"][first], lo), c["tpr"][first], color=color, ls=ls, lw=lw)
                pr.plot(c["recall"], c["precision"], color=color, ls=ls, lw=lw, drawstyle="steps-post")
            counts = metrics[metrics["canaries"] == subset].iloc[0]
            if counts["n_canaries"] and counts["n_natural"]:
                share = counts["n_canaries"] / (counts["n_canaries"] + counts["n_natural"])
                pr.axhline(share, color="grey", lw=0.8, ls=ls)
        chance = np.geomspace(lo, 1, 100)
        roc.plot(chance, chance, color="grey", lw=0.8)
        if not drawn:
            _no_data(roc, "curve (a class is absent)")
            continue
        _metric_table(pr, metrics)
        pr.set_xlabel("recall (share of canaries flagged)")
        roc.set_xlabel("false positive rate (log scale;\nshare of natural points flagged)")
        roc.xaxis.set_tick_params(labelbottom=True)
    grid[0, 0].set_ylabel("true positive rate\n(share of canaries flagged)")
    grid[1, 0].set_ylabel("precision (share of flagged\npoints that are canaries)")
    for ax in grid[0]:
        ax.set_xscale("log")
        ax.set(xlim=(lo, 1), ylim=(0, 1.02))
    for ax in grid[1]:
        ax.set(xlim=(0, 1), ylim=(0, 1.02))
    handles = [plt.Line2D([], [], color=PALETTE[d], lw=1.4) for d in DEFINITIONS]
    labels = [DEFINITION_LABELS[d] for d in DEFINITIONS]
    handles += [plt.Line2D([], [], color="black", ls=ls) for ls in subset_style.values()]
    labels += ["all canaries", f"canaries fit (acc_in ≥ {FIT_ACC_IN:g})"]
    handles.append(plt.Line2D([], [], color="grey", lw=0.8))
    labels.append("chance (ROC: TPR = FPR; PR: canary share)")
    fig.legend(handles, labels, fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"Detecting canaries (positives) among natural points (min_out = {min_out})")
    fig.tight_layout()
    save_figure(fig, paths)


def _wd_axis(ax, wd: pd.Series) -> None:
    """Log x for weight decays spanning decades; symlog when 0 (no weight decay) is one of them."""
    positive = wd[wd > 0]
    if wd.nunique() < 2 or positive.empty:
        return
    if (wd == 0).any():
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    elif positive.max() / positive.min() >= 10:
        ax.set_xscale("log")


def fig_sweep(df_definitions: pd.DataFrame, paths) -> None:
    """Fig. 8: FPR at 95 % TPR vs weight decay, per definition (one line per rate when several), over
    all canaries (definitions.csv's `canaries` = all rows)."""
    setup()
    if "canaries" in df_definitions:
        df_definitions = df_definitions[df_definitions["canaries"] == "all"]
    panels = _panels(df_definitions)
    fig, axes = _grid(len(panels))
    for ax, (_, df) in zip(axes, panels, strict=True):
        if df.empty:
            _no_data(ax, "definition comparison")
            continue
        rates = sorted(df["rate"].unique())
        for definition in DEFINITIONS:
            for j, rate in enumerate(rates):
                d = df[(df["definition"] == definition) & (df["rate"] == rate)].sort_values("weight_decay")
                tag = f", r = {rate:g}" if len(rates) > 1 else ""
                ax.plot(
                    d["weight_decay"], d["fpr_at_95tpr"], color=PALETTE[definition],
                    ls=LINESTYLES[j % len(LINESTYLES)], marker=MARKERS[j % len(MARKERS)],
                    label=f"{DEFINITION_LABELS[definition]}{tag}",
                )  # fmt: skip
        _wd_axis(ax, df["weight_decay"])
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("weight decay (L2 coefficient of SGD)")
        ax.set_ylabel("FPR at 95 % TPR\n(share of natural points flagged)")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))  # four definitions: outside
    rate = "" if df_definitions["rate"].nunique() != 1 else f" at rate {df_definitions['rate'].iloc[0]:g}"
    _titled(fig, axes, panels, f"Definition comparison across weight decay{rate}: FPR (lower is better)")
    save_figure(fig, paths)


def fig_stability(df_stability: pd.DataFrame, paths) -> None:
    """Fig. 9: mean pairwise Spearman between disjoint sub-ensembles vs their size, ± 1 std band."""
    setup()
    panels = _panels(df_stability)
    fig, axes = _grid(len(panels))
    for ax, (_, df) in zip(axes, panels, strict=True):
        if df.empty or df["mean_spearman"].isna().all():
            _no_data(ax, "size with two groups and a defined correlation")
            continue
        _lines_with_band(
            ax,
            df,
            "size",
            "mean_spearman",
            "std_spearman",
            lambda d: f"{_span(d['n_pairs'])} group pairs per size",
        )
        ax.set_xlabel("sub-ensemble size (members per group)")
        ax.set_ylabel("mean pairwise Spearman ρ\nbetween groups (band: ± 1 std)")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))  # four definitions: outside
    _titled(fig, axes, panels, "Stability of scores: agreement of disjoint sub-ensembles vs their size")
    save_figure(fig, paths)
