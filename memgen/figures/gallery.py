"""The gallery: the most memorized training images of each class, each captioned with its file, its given
label and what held-out members predict instead, so a user can open the flagged files one by one."""

import textwrap
from pathlib import PurePosixPath

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from memgen.figures.style import message_figure, save_figure, setup, short

PER_CLASS = 8  # images per class (row)
MAX_CLASSES = 16  # rows; with more classes (ImageNet) the ones with the most memorized points are shown


def _flag(x) -> bool | None:
    """A memorized.csv flag (at_tau, conf_memorized, ...): True, False, or None where empty or absent."""
    return bool(x) if isinstance(x, (bool, np.bool_)) else None


def caption(row) -> str:
    """Three lines: file name (or #index without a file), given label and score, and how many of the
    held-out members predict the most common other class; a point scoring exactly τ (memorized on a tie)
    says so, and gets a fourth line: whether conf and lira memorize it too."""
    name = PurePosixPath(row["path"]).name if row["path"] else f"#{int(row['index'])}"
    n = int(row["n_out"])  # counts, not a percentage: at rate 0.95 a point may be held out by 2 members
    if int(row["predicted_instead"]) >= 0:
        k = int(round(row["predicted_instead_share"] * n))
        instead = f"held out: {k} of {n} say {short(row['predicted_instead_name'], 10)}"
    else:
        instead = f"held out: all {n} say the label"
    tie = _flag(row.get("at_tau"))
    score = f"score {row['score']:.2f}" + (" = τ (tie)" if tie else "")
    text = f"{short(name)}\nlabel {short(row['label_name'], 10)}, {score}\n{instead}"
    if tie:
        said = {d: _flag(row.get(f"{d}_memorized")) for d in ("conf", "lira")}
        text += "\n" + ", ".join(
            f"{d}: {'n/a' if v is None else 'yes' if v else 'no'}" for d, v in said.items()
        )
    return text


def proxy_caption(row, name: str, tau) -> str:
    """A proxy audit's caption: file, given label, the proxy's value (= τ: a tie)."""
    file = PurePosixPath(row["path"]).name if row["path"] else f"#{int(row['index'])}"
    tie = " = τ (tie)" if bool(row.get("at_tau")) else ""
    return f"{short(file)}\nlabel {short(row['label_name'], 10)}\n{short(name, 14)} {row['value']:.3g}{tie}"


def choose(table: pd.DataFrame, per_class: int = PER_CLASS, max_classes: int = MAX_CLASSES) -> pd.DataFrame:
    """The points shown: the `per_class` highest-scoring of each class (ties by index), for the
    `max_classes` classes with the most memorized points (ties: lower class first), rows in class order."""
    t = table.sort_values(["score", "index"], ascending=[False, True], kind="stable")
    counts = t["label"].value_counts()
    ranked = sorted(counts.index, key=lambda c: (-counts[c], c))[:max_classes]
    t = t[t["label"].isin(ranked)]
    t = t.groupby("label", sort=True, group_keys=False).head(per_class)
    return t.sort_values(["label", "score", "index"], ascending=[True, False, True], kind="stable")


def fig_gallery(
    table: pd.DataFrame,
    image,
    paths,
    title: str,
    empty: str,
    per_class: int = PER_CLASS,
    tie: str | None = None,
    caption_of=caption,
    noun: str = "memorized",
    source: str = "memorized.csv",
):
    """Draw the gallery of memorized.csv rows `table` to `paths` (png, pdf).

    image(index, path) -> (array H x W or H x W x 3, colormap or None): one image, read when drawn (a
    streamed folder is never loaded whole). `empty`: the message drawn when the table has no rows. `tie`:
    what the set's tie at τ is (thresholds.json `tau_ties.text`), drawn under the title. caption_of(row): each
    image's caption (`caption`: memorized.csv's; a proxy audit's: `proxy_caption`).
    """
    if table.empty:
        message_figure(empty, paths)
        return
    setup()
    shown = choose(table, per_class)
    labels = list(dict.fromkeys(shown["label"]))
    cols = int(shown["label"].value_counts().max())
    fig, axes = plt.subplots(
        len(labels), cols, figsize=(1.55 * cols + 0.9, 2.1 * len(labels) + 0.9), squeeze=False
    )
    for r, label in enumerate(labels):
        group = shown[shown["label"] == label]
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if c >= len(group):
                ax.axis("off")
                continue
            row = group.iloc[c]
            pixels, cmap = image(int(row["index"]), row["path"])
            ax.imshow(pixels, cmap=cmap, interpolation="nearest" if max(pixels.shape[:2]) < 64 else None)
            ax.set_title(caption_of(row), fontsize=6.5, loc="left")
        name = group.iloc[0]["label_name"]
        axes[r, 0].set_ylabel(
            f"{short(name, 14)}\n({len(table[table['label'] == label])} {noun})", fontsize=8
        )
    hidden = len(table) - len(shown)
    more = f" ({hidden} not shown: see {source})" if hidden else ""
    # a tie's sentence is long: every line wrapped to the figure's width (~14 characters an inch at 9 pt)
    lines = [*title.splitlines(), *([tie] if tie else []), f"{len(table)} {noun}{more}"]
    width = max(40, int(fig.get_figwidth() * 14))
    text = "\n".join(textwrap.fill(line, width) for line in lines)
    fig.suptitle(text, fontsize=9)
    # the panels start below the title: ~0.16 inch a 9-pt line
    fig.tight_layout(rect=(0, 0, 1, 1 - (0.16 * (text.count("\n") + 1) + 0.1) / fig.get_figheight()))
    save_figure(fig, paths)


def as_image(pixels: np.ndarray):
    """uint8 [C, H, W] (C = 1 or 3) or [H, W] -> what imshow takes, and its colormap."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        return pixels, "gray"
    if pixels.shape[0] == 1:
        return pixels[0], "gray"
    return pixels.transpose(1, 2, 0), None
