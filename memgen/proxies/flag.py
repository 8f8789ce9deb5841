"""A proxy audit's memorized set: natural points whose proxy reaches the canaries' (1 - alpha) quantile of
the same proxy, the Eq. 3 idea (memgen.scores.thresholds.null_threshold) applied to a proxy. Canaries are
relabelled points, which a model can only fit by memorizing them; a natural point at least as extreme as
all but alpha of them is flagged, ties at τ included (docs/decisions.md: Ties at τ count)."""

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.proxies.definitions import PROXIES, oriented
from memgen.scores.thresholds import null_threshold

FLAG_COLUMNS = ("index", "path", "label", "label_name", "proxy", "value", "score", "tau", "at_tau")


def check_proxy(name: str) -> str:
    if name not in PROXIES:
        raise fail(f"unknown proxy {name!r}", f"use one of {', '.join(PROXIES)}")
    return name


def flag(proxies: pd.DataFrame, name: str, models: str, alpha: float, tail: str = "upper") -> tuple:
    """(the flagged natural points' rows of `proxies`, sorted by oriented score, and τ). models "all" reads
    column `{name}` (the mean over the proxy models), "1" `{name}_1` (model 0); `score` is the oriented
    value (higher = more memorized), `value` the raw one."""
    column = check_proxy(name) if models == "all" else f"{check_proxy(name)}_1"
    canary = proxies["canary"].astype(bool).to_numpy()
    score = oriented(name, proxies[column].to_numpy(float))
    tau = null_threshold(score[canary], alpha, tail)
    keep = ~canary & np.isfinite(score) & (score >= tau if tail == "upper" else score <= tau)
    out = proxies.loc[keep, ["index"]].assign(value=proxies.loc[keep, column], score=score[keep])
    out = out.assign(proxy=name, tau=tau, at_tau=score[keep] == tau)
    return out.sort_values(["score", "index"], ascending=[False, True], kind="stable"), tau
