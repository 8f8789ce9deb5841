"""Fig. 13: the test rule (memgen.scores.fdr) against its level q, beside Eq. 3's canary quantile."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from memgen.figures.style import PALETTE, save_figure, setup


def _eq3_lines(ax, thresholds: dict) -> None:
    """Eq. 3's (the null rule's) count under fz and frac as horizontal reference lines."""
    for definition, ls in (("frac", "--"), ("fz", ":")):
        r = thresholds.get("rules", {}).get("null", {}).get(definition) or {}
        n = r.get("n_memorized")
        if n is None:
            ax.plot([], [], " ", label=f"Eq. 3 ({definition}): undefined")
            continue
        ax.axhline(n, color=PALETTE[definition], ls=ls, lw=1.4, label=f"Eq. 3 ({definition}): {n}")


def _size_panel(ax, table: pd.DataFrame, thresholds: dict) -> None:
    ax.plot(table["q"], table["n_flagged"], "o-", color=PALETTE["memorized"], label="test rule: flagged")
    _eq3_lines(ax, thresholds)
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("false-discovery rate q (Benjamini–Hochberg)")
    ax.set_ylabel("natural points flagged")
    power = ax.twinx()
    power.plot(table["q"], table["canary_power"], "s:", color="black", label="canary power (right axis)")
    power.set_ylim(-0.02, 1.02)
    power.set_ylabel("share of scored canaries flagged")
    power.grid(False)
    lines, labels = ax.get_legend_handles_labels()
    more, more_labels = power.get_legend_handles_labels()
    ax.legend(  # below the panel: the reference lines may sit anywhere
        lines + more, labels + more_labels, fontsize="x-small", loc="upper center",
        bbox_to_anchor=(0.5, -0.2), ncol=2,
    )  # fmt: skip
    ax.set_title("set size and power against q", fontsize="medium")


def _calibration_panel(ax, table: pd.DataFrame) -> None:
    if "calib_any" not in table.columns:
        ax.axis("off")
        return
    q = table["q"].to_numpy(dtype=float)
    ax.plot(q, q, color="grey", lw=1, label="y = q (the stated rate)")
    draws = int(table["calib_draws"].iloc[0]) if "calib_draws" in table.columns else 0
    ax.plot(q, table["calib_any"], "o-", color="red", label=f"fake masks with any flag (of {draws})")
    if "calib_mixed_fdp" in table.columns:
        ax.plot(
            q, table["calib_mixed_fdp"], "s--", color=PALETTE["frac"], label="fake share, real + fake pooled"
        )
    ax.set_xscale("log")
    ax.set_ylim(-0.01, max(float(np.nanmax(q)) * 1.2, 0.05))
    ax.set_xlabel("false-discovery rate q")
    ax.set_ylabel("realized false-discovery share")
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    ax.set_title("calibration null: member rows of the mask permuted", fontsize="medium")


def fig_fdr(table: pd.DataFrame, thresholds: dict, paths) -> None:
    """Left: natural points the test flags against q, with Eq. 3's counts as reference lines and the share
    of canaries flagged (power) on a second axis. Right: the realized false-discovery share on fake masks
    against q (at or below the diagonal when the stated rate holds)."""
    setup()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12.0, 4.4))
    table = table.sort_values("q")
    _size_panel(left, table, thresholds)
    _calibration_panel(right, table)
    n = int(table["n_tested"].iloc[0]) if "n_tested" in table.columns and len(table) else 0
    fig.suptitle(
        f"Exact test with a stated false-discovery rate vs Eq. 3: {thresholds.get('dataset', '')}/"
        f"{thresholds.get('arch', '')}, {thresholds.get('ensemble', '')} ({n} natural points tested)"
    )
    fig.tight_layout()
    save_figure(fig, paths)
