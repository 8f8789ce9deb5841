"""Fig. 12: per-point scores with their intervals (memgen.scores.intervals), τ, and what each selection
memorizes."""

import numpy as np
import pandas as pd

from memgen.figures.style import DEFINITION_LABELS, PALETTE, plt, save_figure, setup


def _panel(ax, df: pd.DataFrame, tau, color: str, memorize: bool) -> None:
    x = np.arange(1, len(df) + 1)
    ax.fill_between(
        x, df["lo"], df["hi"], step="mid", color=color, alpha=0.3, lw=0, label="interval (lo to hi)"
    )
    ax.plot(x, df["score"], drawstyle="steps-mid", color=color, lw=1.4, label="score")
    if tau is not None:
        ax.axhline(tau, color="red", ls="--", lw=1.4, label=f"τ, null rule = {tau:.3g}")
        if memorize:
            point, low = df["score"] >= tau, df["lo"] >= tau
            ax.plot(x[point], np.full(point.sum(), 1.12), "|", color=PALETTE["memorized"], ms=7,
                    label=f"memorized: score ≥ τ ({point.sum()})")  # fmt: skip
            ax.plot(x[low], np.full(low.sum(), 1.22), "|", color="black", ms=7,
                    label=f"memorized: interval lo ≥ τ ({low.sum()})")  # fmt: skip
    ax.set_xscale("log")  # the few points near τ and the bulk both stay visible
    ax.set_xlim(0.8, max(len(df), 2) * 1.25)
    ax.set_ylim(-1.05, 1.3)
    ax.set_yticks([-1, -0.5, 0, 0.5, 1])


def fig_intervals(panels: dict, thresholds: dict, level: float, paths) -> None:
    """Natural points (top) and canaries (bottom) of one ensemble ranked by score, one column per definition
    with an interval (two: frac, fz); τ of the null rule, and the memorized marks of both selections.
    panels: {definition: (natural points, canaries)}, tables of memgen.scores.intervals.ranked_intervals."""
    setup()
    fig, grid = plt.subplots(2, 2, figsize=(12.4, 7.6), sharey=True)
    for col, (definition, groups) in enumerate(panels.items()):
        rule = thresholds["rules"]["null"].get(definition, {})
        tau = rule.get("tau")
        color = PALETTE[definition]
        for row, (df, who) in enumerate(zip(groups, ("natural points", "canaries (the null)"), strict=True)):
            ax = grid[row, col]
            _panel(ax, df, tau, color, memorize=row == 0)
            ax.set_title(f"{who}, n = {len(df)}: {DEFINITION_LABELS[definition]}", fontsize="medium")
            ax.set_xlabel("rank by score, highest first (log scale)")
            ax.set_ylabel("score and its interval" if col == 0 else "")
            ax.legend(loc="lower left", fontsize="x-small", framealpha=0.9)
    fig.suptitle(
        f"Scores with their {level:.0%} intervals (Wilson, Bonferroni over acc_in and acc_out), "
        f"{thresholds.get('ensemble', '')}, min_out = {thresholds['min_out']}"
    )
    fig.tight_layout()
    save_figure(fig, paths)
