"""Figures of the utility study: leakage examples (Fig. 4), utility (Fig. 5), removed scores (Fig. 10),
seed curve (Fig. 11). Each function draws one figure and writes it to every path (png and pdf)."""

import math
from pathlib import PurePosixPath

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from memgen.errors import fail
from memgen.figures.style import DEFINITION_LABELS, PALETTE, message_figure, save_figure, setup, short

P_FLOOR = 1e-16  # p-values below double precision's resolution are drawn at this floor on a log axis


def _as_display(images: np.ndarray) -> tuple[np.ndarray, str | None]:
    """uint8 [N,H,W] or [N,C,H,W] (C = 1 or 3) -> array imshow takes, and its colormap."""
    images = np.asarray(images)
    if images.ndim == 3:
        return images, "gray"
    if images.ndim == 4 and images.shape[1] == 1:
        return images[:, 0], "gray"
    if images.ndim == 4 and images.shape[1] == 3:
        return images.transpose(0, 2, 3, 1), None
    raise fail(
        f"images have shape {images.shape}; expected [N,H,W] or [N,C,H,W] with C = 1 or 3",
        "pass the dataset's uint8 images in channel-first layout",
    )


def _name_label(names, split: str, i: int) -> str:
    """A point's file name (shortened), or "<split> <index>" without one."""
    name = "" if names is None else str(names[i])
    return short(PurePosixPath(name).name, 16) if name else f"{split} {i}"


def _one_image(images, i):
    """One image and its colormap; a streamed folder (memgen.data.stream) decodes only those shown."""
    shown, cmap = _as_display(images[[i]])
    return shown[0], cmap


def _top_pairs(scores: pd.DataFrame, duplicates: pd.DataFrame, definition, n, n_test: int) -> pd.DataFrame:
    """The n highest-scoring natural training points with a listed test neighbour, each with its closest."""
    s = scores[definition].to_numpy(dtype=float)
    natural = (
        ~scores["canary"].to_numpy().astype(bool) if "canary" in scores.columns else np.ones(len(s), bool)
    )
    pairs = duplicates.sort_values("Distance", kind="stable").drop_duplicates("TrainID")
    if len(pairs) and (pairs["TrainID"].max() >= len(s) or pairs["TestID"].max() >= n_test):
        raise fail(
            f"duplicate list names points beyond the {len(s)} training / {n_test} test images",
            "use the duplicate list made for this dataset",
        )
    pairs = pairs.copy()
    ids = pairs["TrainID"].to_numpy(dtype=np.int64)
    pairs["score"] = s[ids]
    pairs = pairs[natural[ids] & ~np.isnan(pairs["score"].to_numpy())]
    return pairs.sort_values(["score", "Distance"], ascending=[False, True], kind="stable").head(int(n))


def _draw_pair(top, bottom, p, train_images, test_images, train_names, test_names) -> None:
    """One column: the training image and its score above its test neighbour and their distance."""
    top.imshow(*_one_image(train_images, int(p["TrainID"])))
    train = _name_label(train_names, "train", int(p["TrainID"]))
    top.set_title(f"{train}\nscore {p['score']:.2f}", fontsize=8)
    bottom.imshow(*_one_image(test_images, int(p["TestID"])))
    listed = " (listed)" if p.get("Listed", False) else ""
    test = _name_label(test_names, "test", int(p["TestID"]))
    bottom.set_title(f"{test}{listed}\ndist. {p['Distance']:.2f}", fontsize=8)
    for ax in (top, bottom):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)


def fig_top_memorized(
    train_images,
    test_images,
    scores: pd.DataFrame,
    duplicates: pd.DataFrame,
    definition,
    n,
    paths,
    title=None,
    train_names=None,
    test_names=None,
):
    """Fig. 4: the n highest-scoring natural training points that have a near-duplicate in the test set,
    each above its closest listed test neighbour (pairs from a duplicate / nearest-neighbour list).
    train_names / test_names: each point's file (str, "" without one), shown instead of its index."""
    setup()
    for images in (train_images, test_images):  # a wrong layout fails before any work
        _as_display(images[:1])
    pairs = _top_pairs(scores, duplicates, definition, n, len(test_images))
    if pairs.empty:
        message_figure(
            f"No scored natural training point has a listed test near-duplicate ({definition}).", paths
        )
        return
    k = len(pairs)
    fig, axes = plt.subplots(2, k, figsize=(1.5 * k + 0.8, 4.4), squeeze=False)
    for c, (_, p) in enumerate(pairs.iterrows()):
        _draw_pair(axes[0, c], axes[1, c], p, train_images, test_images, train_names, test_names)
    axes[0, 0].set_ylabel("training", fontsize=9)
    axes[1, 0].set_ylabel("test", fontsize=9)
    fig.suptitle(
        title
        or f"Highest-scoring training points ({DEFINITION_LABELS.get(definition, definition)}) "
        "with a near-duplicate in the test set",
        fontsize=9,
    )
    fig.tight_layout()
    save_figure(fig, paths)


CONTROL_COLORS = {"random": PALETTE["memorized"], "class_matched": "#1b9e77"}
CONTROL_LABELS = {"random": "vs random (paper)", "class_matched": "vs class-matched random"}


def utility_marks(table3: pd.DataFrame) -> list[str]:
    """Per row of Table 3: "*" when the difference is NOT significant (test-aware p >= 0.05, as in the
    paper's Fig. 5), "n/a" when there is no difference (no memorized points), "" otherwise. A row with a
    difference but no p (fewer than 2 seeds) gets "" and its note says why."""
    marks = []
    for d, sig in zip(table3["diff_pp"].astype(float), table3["significant_0.05"], strict=True):
        if math.isnan(d):
            marks.append("n/a")
        elif pd.notna(sig) and not bool(sig):
            marks.append("*")
        else:
            marks.append("")
    return marks


def _errors(t: pd.DataFrame) -> np.ndarray:
    """[2, rows] error bar lengths: to the 95 % interval's ends where the table has them, else ± 1 std."""
    diff = t["diff_pp"].to_numpy(dtype=float)
    if {"ci_lo_pp", "ci_hi_pp"} <= set(t.columns):
        lo, hi = t["ci_lo_pp"].to_numpy(dtype=float), t["ci_hi_pp"].to_numpy(dtype=float)
        return np.nan_to_num(np.stack([diff - lo, hi - diff])).clip(min=0)
    std = np.nan_to_num(t["std_pp"].to_numpy(dtype=float))
    return np.stack([std, std])


def _mark_bars(ax, x, diff, marks) -> None:
    for xi, d, mark in zip(x, diff, marks, strict=True):
        if mark == "n/a":
            ax.text(xi, 0, mark, ha="center", va="bottom", fontsize=8)
        elif mark == "*":  # beside the bar's end, clear of the error bar's cap
            ax.annotate(
                mark, (xi, d), xytext=(6, 0), textcoords="offset points", ha="left", va="center", fontsize=13
            )


def _panel(ax, t: pd.DataFrame) -> None:
    """One dataset: a group of bars per arch (and replicate), one bar per control."""
    t = t.reset_index(drop=True)
    rep = t["replicate"].astype(str) if "replicate" in t.columns else pd.Series(["1"] * len(t))
    control = t["control"].astype(str) if "control" in t.columns else pd.Series(["random"] * len(t))
    groups = list(dict.fromkeys(zip(t["arch"].astype(str), rep, strict=True)))
    controls = [c for c in CONTROL_COLORS if (control == c).any()] or ["random"]
    width = 0.8 / len(controls)
    x = np.array(
        [groups.index((a, r)) + (controls.index(c) - (len(controls) - 1) / 2) * width
         for a, r, c in zip(t["arch"].astype(str), rep, control, strict=True)]
    )  # fmt: skip
    diff = t["diff_pp"].to_numpy(dtype=float)
    combined = (rep == "combined").to_numpy()
    colors = [CONTROL_COLORS.get(c, PALETTE["random"]) for c in control]
    # a combined row (over replicates) is hatched, its error bar the t-interval between replicates
    ax.bar(x, np.nan_to_num(diff), yerr=_errors(t), color=colors, capsize=3, width=width * 0.9,
           hatch=["//" if c else "" for c in combined], edgecolor="black", linewidth=0.3)  # fmt: skip
    ax.axhline(0, color="black", lw=0.8)
    _mark_bars(ax, x, diff, utility_marks(t))
    several = rep.nunique() > 1
    n_reps = int((~combined).sum() / max(1, len(controls)) / max(1, t["arch"].nunique()))
    names = [
        f"{a}, combined ({n_reps})" if r == "combined" else (f"{a}, rep. {r}" if several else a)
        for a, r in groups
    ]
    ax.set_xticks(range(len(groups)), names, rotation=30, ha="right")


def fig_utility(table3: pd.DataFrame, paths):
    """Fig. 5: accuracy after memorized removal − after each control's removal (pp) per dataset × arch, bars
    per control (the paper's uniform random draw, and the class-matched one), error bars the test-aware
    95 % interval; * marks differences that are NOT significant (test-aware p ≥ 0.05)."""
    from matplotlib.patches import Patch

    setup()
    datasets = list(dict.fromkeys(table3["dataset"]))
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(3.6 * len(datasets) + 0.5, 3.6), squeeze=False, sharey=True
    )
    for ax, ds in zip(axes[0], datasets, strict=True):
        _panel(ax, table3[table3["dataset"] == ds])
        ax.set_title(ds)
    axes[0, 0].set_ylabel("acc. memorized removed −\nacc. control removed (pp)")
    controls = table3["control"].astype(str).unique() if "control" in table3.columns else ["random"]
    handles = [
        Patch(color=CONTROL_COLORS[c], label=CONTROL_LABELS[c]) for c in CONTROL_COLORS if c in controls
    ]
    axes[0, -1].legend(handles=handles, fontsize=7, loc="best")
    several = "replicate" in table3.columns and (table3["replicate"].astype(str) == "combined").any()
    fig.suptitle("Test accuracy after removing memorized vs as many random training points")
    fig.text(
        0.5,
        -0.04,
        "Bars: mean over paired seeds; error bars: 95 % interval with seeds and test points random. "
        "* = NOT significant (p ≥ 0.05); n/a = no memorized points."
        + (
            "\nHatched bars: mean over replicates, t-interval between replicates (test set fixed)."
            if several
            else ""
        ),
        ha="center",
        va="top",
        fontsize=8,
    )
    fig.tight_layout()
    save_figure(fig, paths)


def fig_removed_scores(scores: pd.DataFrame, removal_sets: dict, definition, paths):
    """Fig. 10: score distribution of the points removed as memorized, the points removed at random,
    and all natural points; one panel per removal set (name -> removal_sets() dict)."""
    setup()
    s = scores[definition].to_numpy(dtype=float)
    natural = ~scores["canary"].to_numpy().astype(bool)
    finite = s[natural & ~np.isnan(s)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 31)
    names = list(removal_sets)
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names) + 0.5, 3.2), squeeze=False)
    colors = {
        "all natural": "black",
        "memorized removed": PALETTE["memorized"],
        "random removed": PALETTE["random"],
    }
    for ax, name in zip(axes[0], names, strict=True):
        sets = removal_sets[name]
        groups = {
            "all natural": finite,
            "memorized removed": s[np.asarray(sets["memorized"], dtype=np.int64)],
            "random removed": s[np.asarray(sets["random"], dtype=np.int64)],
        }
        long = pd.concat(
            [pd.DataFrame({"score": v[~np.isnan(v)], "points": g}) for g, v in groups.items()],
            ignore_index=True,
        )
        sns.histplot(
            long,
            x="score",
            hue="points",
            bins=bins,
            stat="density",
            common_norm=False,
            element="step",
            fill=False,
            palette=colors,
            hue_order=[g for g in colors if (long["points"] == g).any()],
            ax=ax,
        )
        tau = sets.get("tau", float("nan"))
        if tau is not None and math.isfinite(tau):
            ax.axvline(tau, color="red", ls="--", lw=1)
            ax.text(tau, ax.get_ylim()[1] * 0.95, " τ", color="red", va="top")
        title = f"{name} ({len(sets['memorized'])} removed)"
        if len(sets["memorized"]) == 0:
            title += f"\n{sets.get('reason', '')}"
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(DEFINITION_LABELS.get(definition, definition))
    fig.tight_layout()
    save_figure(fig, paths)


def fig_seed_curve(df_curve: pd.DataFrame, paths):
    """Fig. 11: Score (pp) and its paired-t-test p against the number of utility seeds used; an
    optional `label` column draws one line per label (e.g. dataset/arch)."""
    setup()
    df = df_curve.reset_index(drop=True)  # curves concatenated per label repeat index values
    df["p_plot"] = df["p"].clip(lower=P_FLOOR)
    hue = "label" if "label" in df.columns else None
    fig, (ax_s, ax_p) = plt.subplots(1, 2, figsize=(8, 3.2))
    sns.lineplot(df, x="n_seeds", y="score", hue=hue, marker="o", ax=ax_s, color=PALETTE["memorized"])
    ax_s.axhline(0, color="black", lw=0.8)
    ax_s.set_xlabel("utility seeds")
    ax_s.set_ylabel("Score: acc. memorized − random removed (pp)")
    sns.lineplot(
        df, x="n_seeds", y="p_plot", hue=hue, marker="o", ax=ax_p, color=PALETTE["memorized"], legend=False
    )
    ax_p.axhline(0.05, color="red", ls="--", lw=1, label="p = 0.05")
    ax_p.set_yscale("log")
    ax_p.set_xlabel("utility seeds")
    ax_p.set_ylabel(f"p (two-sided paired t-test, floor {P_FLOOR:g})")
    ax_p.legend(loc="best", fontsize=8)
    fig.suptitle("How many utility seeds? Score and its p-value using the first n seeds")
    fig.tight_layout()
    save_figure(fig, paths)
