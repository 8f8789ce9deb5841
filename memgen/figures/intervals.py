"""Fig. 12: per-point scores with their intervals (memgen.scores.intervals), τ, and what each selection
memorizes."""

import numpy as np
import pandas as pd

from memgen.figures.style import DEFINITION_LABELS, PALETTE, plt, save_figure, setup
from memgen.scores.thresholds import scored


def ranked(scores: pd.DataFrame, definition: str, rows: np.ndarray) -> pd.DataFrame:
    """The points `rows` selects, highest score first; ties (many at rate 0.95: counts of 12 held-out
    members) by their interval's lower end, so the band shows which of them the interval option keeps."""
    df = scores.loc[rows, [definition, f"{definition}_lo", f"{definition}_hi"]].copy()
    df.columns = ["score", "lo", "hi"]
    return df.sort_values(["score", "lo"], ascending=False, kind="stable").reset_index(drop=True)


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


def fig_intervals(scores: pd.DataFrame, thresholds: dict, level: float, paths) -> None:
    """Natural points (top) and canaries (bottom) of one ensemble ranked by score, one column per definition
    with an interval (fz, frac); τ of the null rule, and the memorized marks of both selections."""
    setup()
    ok = scored(scores, thresholds["min_out"])
    canary = scores["canary"].to_numpy().astype(int) == 1
    fig, grid = plt.subplots(2, 2, figsize=(12.4, 7.6), sharey=True)
    for col, definition in enumerate(("frac", "fz")):
        rule = thresholds["rules"]["null"].get(definition, {})
        tau = rule.get("tau")
        color = PALETTE[definition]
        for row, (rows, who) in enumerate(
            [(ok & ~canary, "natural points"), (ok & canary, "canaries (the null)")]
        ):
            ax = grid[row, col]
            df = ranked(scores, definition, rows)
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
