"""One look for every figure, and one way to save it (png + pdf, never half-written)."""

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (clusters and CI have no display)
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

DEFINITION_LABELS = {
    "fz": "FZ difference (Eq. 1)",
    "frac": "fractional difference (Eq. 2)",
    "conf": "confidence fractional difference",
    "lira": "LiRA-style separation",
}
# Dark2 for the four definitions; memorized / random keep their colours (purple, grey)
PALETTE = {
    "fz": "#d95f02",
    "frac": "#1b9e77",
    "conf": "#e7298a",
    "lira": "#1f78b4",
    "memorized": "#7570b3",
    "random": "#999999",
}


def setup() -> None:
    sns.set_theme(context="paper", style="whitegrid", font_scale=1.1)


def save_figure(fig, paths) -> None:
    """Save `fig` to each path (format from the suffix), atomically, then close it."""
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        os.replace(tmp, path)
    plt.close(fig)


NAME_CHARS = 26  # a longer file name is shortened in the middle, keeping its start and extension


def short(text: str, width: int = NAME_CHARS) -> str:
    """`text` cut in the middle to at most `width` characters ("IMG_2023…0412.jpg")."""
    text = str(text)
    if len(text) <= width:
        return text
    tail = (width - 1) // 2
    return f"{text[: width - 1 - tail]}…{text[-tail:]}"


def message_figure(text: str, paths) -> None:
    """A figure that says in words why there is nothing to draw (an empty set, too few runs)."""
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    save_figure(fig, paths)
