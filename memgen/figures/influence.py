"""The gallery of influence pairs: each of the strongest pairs as its training image above the test image
whose correctness leans on it, captioned with files, labels and infl [95 % interval], so a reader sees at a
glance whether a pair is a near-twin (leakage), a rare style shared by the two, or a label both got wrong."""

from pathlib import PurePosixPath

import matplotlib.pyplot as plt
import pandas as pd

from memgen.figures.style import message_figure, save_figure, setup, short

PER_ROW = 6  # pairs per row of the figure


def _name(path, split: str, i: int) -> str:
    return short(PurePosixPath(path).name, 16) if path else f"{split} #{i}"


def captions(row) -> tuple[str, str]:
    """The training image's caption (file, label, memorized or not) and the test image's (file, label,
    infl and its 95 % Newcombe interval, and whether the pair is high-influence)."""
    mem = "memorized" if row["memorized"] else "not memorized"
    name = _name(row["train_file"], "train", row["train_index"])
    train = f"{name}\n{short(row['train_label_name'], 12)}, {mem}"
    high = " (high)" if row["high"] else ""
    test = (
        f"{_name(row['test_file'], 'test', row['test_index'])}\n{short(row['test_label_name'], 12)}\n"
        f"infl {row['infl']:.2f} [{row['infl_lo']:.2f}, {row['infl_hi']:.2f}]{high}"
    )
    return train, test


def _show(ax, pixels_cmap, text: str) -> None:
    pixels, cmap = pixels_cmap
    ax.imshow(pixels, cmap=cmap, interpolation="nearest" if max(pixels.shape[:2]) < 64 else None)
    ax.set_title(text, fontsize=6.5, loc="left")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def fig_influence(shown: pd.DataFrame, image, paths, title: str, n_high: int, n_kept: int) -> None:
    """Draw the influence.csv rows `shown` (the strongest pairs, memgen.influence.leakage.strongest_pairs) to
    `paths` (png, pdf); n_high and n_kept: the high-influence and all pairs of influence.csv, for the title.

    image: {"train": f, "test": f}, f(index, path) -> (pixels, colormap), read when drawn.
    """
    if shown.empty:
        message_figure(
            f"{title}\nNo pair kept: no test point's correctness leans on any training point.", paths
        )
        return
    setup()
    cols = min(PER_ROW, len(shown))
    groups = -(-len(shown) // cols)
    fig, axes = plt.subplots(
        2 * groups, cols, figsize=(1.6 * cols + 0.9, 2.5 * 2 * groups + 0.8), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for k, (_, row) in enumerate(shown.iterrows()):
        g, c = divmod(k, cols)
        top, bottom = axes[2 * g, c], axes[2 * g + 1, c]
        top.axis("on")
        bottom.axis("on")
        train_text, test_text = captions(row)
        _show(top, image["train"](int(row["train_index"]), row["train_file"]), train_text)
        _show(bottom, image["test"](int(row["test_index"]), row["test_file"]), test_text)
    for g in range(groups):
        axes[2 * g, 0].set_ylabel("training", fontsize=8)
        axes[2 * g + 1, 0].set_ylabel("test", fontsize=8)
    fig.suptitle(
        f"{title}\n{n_high} high-influence pairs of {n_kept} kept; the {len(shown)} strongest: training "
        "image above the test image it lifts (infl = P[right | in] − P[right | out], 95 % Newcombe interval)",
        fontsize=8,
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    save_figure(fig, paths)
