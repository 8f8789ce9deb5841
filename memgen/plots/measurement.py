"""Figures of the measurement part of the study (paper Fig. 1, 2, 3, 7, 8, 9).

Tables may hold one or several (dataset, arch) combinations, told apart by `dataset` / `arch` columns
when the caller adds them: each combination gets its own panel.
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from memgen.definitions import compare_definitions, detection_curves
from memgen.plots.style import DEFINITION_LABELS, PALETTE, save_figure, setup
from memgen.scores import DEFINITIONS
from memgen.thresholds import scored

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
    """Sampling-bias lines per definition (mae vs rate); the reference ensemble's point starred."""
    for definition in DEFINITIONS:
        d = df[df["definition"] == definition].sort_values("rate")
        if d.empty:
            continue
        color = PALETTE[definition]
        ax.plot(d["rate"], d["mae"], marker="o", color=color, label=DEFINITION_LABELS[definition])
        ref = d[d["ensemble"] == reference]
        ax.plot(ref["rate"], ref["mae"], marker="*", ms=15, mec="black", mew=0.8, color=color, ls="none")


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
        reference = df["reference"].iloc[0] if "reference" in df.columns and not df.empty else None
        for ax, points, what in zip(
            row[1:], ("random", "top"), ("random sample", "top points of the reference"), strict=False
        ):
            vs_loo = df[(df["against"] == "loo") & (df["points"] == points)]
            if vs_loo.empty:
                _no_data(ax, "leave-one-out (dataset above loo.max_train_points)")
            else:
                _sb_lines(ax, vs_loo, reference)
            se = vs_loo["truth_se"].mean() if not vs_loo.empty else math.nan
            ax.set_title(
                f"{where}against exact leave-one-out\n({what}: {_span(vs_loo['n_points'])} points; "
                f"LOO's own se ≈ {se:.2f})"
            )
            ax.set_ylabel("mean |score − LOO score|\n(score units)")
        for ax in row:
            ax.set_xlabel("sampling rate r (share of the training set per member)")
            ax.set_ylim(bottom=0)
    handles = [
        plt.Line2D([], [], color=PALETTE[d], marker="o", label=DEFINITION_LABELS[d])
        for d in DEFINITIONS
        if d in set(df_all["definition"])
    ]
    if has_loo:
        handles.append(
            plt.Line2D(
                [], [], marker="*", ms=12, mec="black", color="white", ls="none", label="reference ensemble"
            )
        )
    fig.suptitle("Sampling bias: per-point score error by sampling rate")
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 5))
    save_figure(fig, paths)


def _ensemble_order(df: pd.DataFrame) -> list[str]:
    keys = [c for c in ("rate", "weight_decay", "ensemble") if c in df.columns]
    return list(dict.fromkeys(df.sort_values(keys)["ensemble"]))


def fig_fpr(df_definitions: pd.DataFrame, paths) -> None:
    """Fig. 2: FPR at 95 % TPR per definition, one bar group per ensemble."""
    setup()
    panels = _panels(df_definitions)
    fig, axes = _grid(
        len(panels), width=max(5.0, 1.3 * df_definitions.get("ensemble", pd.Series()).nunique())
    )
    for ax, (_, df) in zip(axes, panels, strict=True):
        if df.empty or df["fpr_at_95tpr"].isna().all():
            _no_data(ax, "definition comparison (a class is absent)")
            continue
        df = df.assign(label=df["definition"].map(DEFINITION_LABELS))
        sns.barplot(
            data=df,
            x="ensemble",
            y="fpr_at_95tpr",
            hue="label",
            order=_ensemble_order(df),
            hue_order=[DEFINITION_LABELS[d] for d in DEFINITIONS],
            palette={DEFINITION_LABELS[d]: PALETTE[d] for d in DEFINITIONS},
            ax=ax,
        )
        for container in ax.containers:
            ax.bar_label(container, fmt="%.2f", fontsize="small")
        ax.set_ylim(0, 1.05)
        ax.set_xlabel(
            f"ensemble (n = {_span(df['n_canaries'])} canaries, {_span(df['n_natural'])} natural points)"
        )
        ax.set_ylabel("FPR at 95 % TPR\n(share of natural points flagged)")
        ax.tick_params(axis="x", labelrotation=30)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        ax.get_legend().remove()
    # one legend, outside the last panel, so it never hides a bar
    handles = max((ax.get_legend_handles_labels() for ax in axes), key=lambda hl: len(hl[0]))
    if handles[0]:
        axes[-1].legend(
            *handles, title="definition", fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1)
        )
    _titled(
        fig,
        axes,
        panels,
        "Natural points flagged when the threshold catches 95 % of canaries (lower is better)",
    )
    save_figure(fig, paths)


def fig_null(scores: pd.DataFrame, thresholds: dict, definition: str, paths) -> None:
    """Fig. 3: score histograms of canaries (the null) and natural points, with τ of both rules."""
    setup()
    ok = scored(scores, thresholds["min_out"])
    canary = scores["canary"].to_numpy().astype(int) == 1
    values = scores[definition].to_numpy(dtype=float)
    null, natural = values[ok & canary], values[ok & ~canary]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    bins = np.linspace(-1, 1, 41)  # both scores lie in [-1, 1]; 0.05-wide bins
    for data, label, color in [
        (natural, f"natural points (n = {natural.size})", PALETTE["random"]),
        (null, f"canaries = null (n = {null.size})", PALETTE["memorized"]),
    ]:
        if data.size:
            ax.hist(data, bins=bins, density=True, alpha=0.55, color=color, label=label)
        else:
            ax.plot([], [], " ", label=f"{label}: none scored")
    rule_style = {"null": ("red", "--"), "fixed": ("black", ":")}
    for rule, (color, ls) in rule_style.items():
        r = thresholds["rules"][rule][definition]
        name = (
            f"null rule ({thresholds['tail']} tail, α = {thresholds['alpha']:g})"
            if rule == "null"
            else "fixed rule"
        )
        if r["tau"] is None:
            why = "no canary is scored" if thresholds["null_size"] == 0 else "see the note in thresholds.json"
            ax.plot([], [], " ", label=f"τ {name}: undefined ({why})")
            continue
        share = "" if r["fraction_memorized"] is None else f", {r['fraction_memorized']:.1%}"
        ax.axvline(
            r["tau"],
            color=color,
            ls=ls,
            lw=1.8,
            label=f"τ {name} = {r['tau']:.3g}: {r['n_memorized']} natural points ≥ τ{share}",
        )
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(f"memorization score: {DEFINITION_LABELS[definition]}")
    ax.set_ylabel("density (each group has area 1)")
    ax.set_title(f"Null-based threshold: canary vs natural scores (min_out = {thresholds['min_out']})")
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below: hides no bar
    fig.tight_layout()
    save_figure(fig, paths)


def fig_curves(scores_by_ens: dict[str, pd.DataFrame], min_out: int, paths) -> None:
    """Fig. 7: ROC and precision-recall curves of canary detection, both definitions, per ensemble."""
    setup()
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(12, 5))
    several = len(scores_by_ens) > 1
    for i, (name, scores) in enumerate(scores_by_ens.items()):
        ls = LINESTYLES[i % len(LINESTYLES)]
        metrics = compare_definitions(scores, min_out).set_index("definition")
        tag = f" – {name}" if several else ""
        for definition in DEFINITIONS:
            m, c = metrics.loc[definition], detection_curves(scores, definition, min_out)
            label = f"{DEFINITION_LABELS[definition]}{tag}"
            if c["fpr"].size == 0:
                roc.plot([], [], " ", label=f"{label}: one class absent")
                continue
            color = PALETTE[definition]
            roc.plot(c["fpr"], c["tpr"], color=color, ls=ls, label=f"{label} (AUROC {m['auroc']:.3f})")
            pr.plot(
                c["recall"], c["precision"], color=color, ls=ls, drawstyle="steps-post",
                label=f"{label} (AUPR {m['aupr']:.3f})",
            )  # fmt: skip
        n_canaries, n_natural = metrics["n_canaries"].iloc[0], metrics["n_natural"].iloc[0]
        if n_canaries == 0 or n_natural == 0:
            continue
        share = n_canaries / (n_canaries + n_natural)
        pr.axhline(share, color="grey", lw=0.8, ls=ls, label=f"chance{tag} (canary share {share:.1%})")
    roc.plot([0, 1], [0, 1], color="grey", lw=0.8, label="chance")
    roc.set(
        xlabel="false positive rate (share of natural points flagged)",
        ylabel="true positive rate (share of canaries flagged)",
        title="ROC",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    pr.set(
        xlabel="recall (share of canaries flagged)",
        ylabel="precision (share of flagged points that are canaries)",
        title="Precision–recall",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    roc.legend(fontsize="small", loc="lower right")
    pr.legend(fontsize="small", loc="upper right")
    fig.suptitle(
        f"Detecting canaries (positives) among natural points with each definition (min_out = {min_out})"
    )
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
    """Fig. 8: FPR at 95 % TPR vs weight decay, per definition (one line per rate when several)."""
    setup()
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
        ax.legend(fontsize="small")
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
        ax.legend(fontsize="small", loc="best")
    _titled(fig, axes, panels, "Stability of scores: agreement of disjoint sub-ensembles vs their size")
    save_figure(fig, paths)
