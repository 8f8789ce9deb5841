"""The proxies' validation (proxies_validation.csv) in one figure: how each proxy ranks points against
the reference ensemble and leave-one-out (Spearman, 95 % intervals), and how it finds canaries and the
memorized set, from one model (hollow) and from all proxy models (filled)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from memgen.figures.style import PALETTE, save_figure, setup

AGAINST = {"fz": "reference fz", "frac": "reference frac", "loo": "leave-one-out fz"}
COLOURS = {"fz": PALETTE["fz"], "frac": PALETTE["frac"], "loo": PALETTE["lira"]}


def _rho_panel(ax, table: pd.DataFrame, names: list[str]) -> None:
    y = np.arange(len(names))
    for j, (key, label) in enumerate(AGAINST.items()):
        for models, fill, dy in (("all", True, -0.12), ("1", False, 0.12)):
            rows = table[table["models"] == models].set_index("proxy").reindex(names)
            rho = rows[f"spearman_{key}"].to_numpy(float)
            if np.isnan(rho).all():
                continue
            lo, hi = rows[f"spearman_{key}_lo"].to_numpy(float), rows[f"spearman_{key}_hi"].to_numpy(float)
            at = y + (j - 1) * 0.25 + dy * 0.5
            ax.errorbar(
                rho, at, xerr=[rho - lo, hi - rho], fmt="o", color=COLOURS[key], ms=5, lw=1,
                mfc=COLOURS[key] if fill else "white",
                label=f"{label} ({'all models' if fill else 'one model'})",
            )  # fmt: skip
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(-1, 1)
    ax.set_xlabel("Spearman ρ with the truth (95 % interval)")
    ax.set_title("does the proxy rank points as memgen measures them?", fontsize="medium")
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)


def _find_panel(ax, table: pd.DataFrame, names: list[str]) -> None:
    y = np.arange(len(names))
    for models, fill, dy in (("all", True, -0.15), ("1", False, 0.15)):
        rows = table[table["models"] == models].set_index("proxy").reindex(names)
        for col, colour, label in (
            ("auroc_canary", "black", "AUROC, canaries vs natural"),
            ("precision_at_k", PALETTE["memorized"], "precision at the memorized set's size"),
        ):
            ax.plot(
                rows[col].to_numpy(float), y + dy, "s" if col == "auroc_canary" else "D", color=colour,
                mfc=colour if fill else "white", ms=6,
                label=f"{label} ({'all models' if fill else 'one model'})",
            )  # fmt: skip
    ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_yticks(y, names)  # the y axis is shared: the rho panel inverted it for both
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("share (AUROC 0.5: chance)")
    ax.set_title("does it find canaries and the memorized set?", fontsize="medium")
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)


def fig_proxies(table: pd.DataFrame, title: str, paths) -> None:
    """Two panels over the proxies of proxies_validation.csv, titled with the cost of each."""
    setup()
    names = list(dict.fromkeys(table["proxy"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.55 * len(names) + 3), sharey=True)
    _rho_panel(axes[0], table, names)
    _find_panel(axes[1], table, names)
    fig.suptitle(title, fontsize="medium")
    save_figure(fig, paths)


def proxies_title(dataset: str, arch: str, table: pd.DataFrame) -> str:
    one = table[table["models"] == "1"].iloc[0]
    every = table[table["models"] == "all"].iloc[0]
    return (
        f"{dataset} / {arch}: memorization proxies against the ensembles — one model costs "
        f"{one['cost_ratio']:.1%} of the reference ensemble's training, all proxy models "
        f"{every['cost_ratio']:.1%}"
    )
