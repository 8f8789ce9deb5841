"""What the replicates' memorized sets share: each file's count of replicates that memorize it, and the
sets' overlap (pairwise Jaccard, the core memorized in every replicate).

A point memorized in every replicate does not hang on one draw of canaries, masks and members: it is the
stable core a user can act on. One memorized in a single replicate may be the draw's noise.
"""

from itertools import combinations

import numpy as np
import pandas as pd

PER_FILE_COLUMNS = ("index", "path", "label", "label_name", "replicates", "share", "memorized_in")
OVERLAP_COLUMNS = (
    "dataset",
    "arch",
    "replicates",
    "sizes",
    "jaccard_mean",
    "jaccard_min",
    "jaccard_max",
    "n_any",
    "n_majority",
    "n_every",
    "note",
)


def jaccard(a: set, b: set) -> float:
    """|a ∩ b| / |a ∪ b|; NaN when both are empty (two empty sets agree on nothing measurable)."""
    union = len(a | b)
    return len(a & b) / union if union else float("nan")


def per_file(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Every point memorized in some replicate (tables: memorized.csv of replicates 1..R, in order): its
    file and label, in how many replicates it is memorized, that share of R, and which (\"1;3\"); most
    often memorized first, then by index."""
    r = len(tables)
    rows: dict[int, dict] = {}
    for k, t in enumerate(tables, start=1):
        for _, row in t.iterrows():
            i = int(row["index"])
            entry = rows.setdefault(
                i, {c: row[c] for c in ("index", "path", "label", "label_name")} | {"in": []}
            )
            entry["in"].append(k)
    out = pd.DataFrame(
        [
            {**{c: e[c] for c in ("index", "path", "label", "label_name")}}
            | {
                "replicates": len(e["in"]),
                "share": len(e["in"]) / r,
                "memorized_in": ";".join(map(str, e["in"])),
            }
            for e in rows.values()
        ],
        columns=list(PER_FILE_COLUMNS),
    )
    return out.sort_values(["replicates", "index"], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def overlap(sets: list[set], undefined: list[bool] | None = None) -> dict:
    """The replicates' memorized sets compared: sizes, pairwise Jaccard (mean, min, max over the defined
    pairs), and how many points are memorized in any, in a majority, in every replicate. `undefined[k]`:
    replicate k's set is undefined (τ undefined), not empty; it is left out of the comparison and noted."""
    undefined = undefined or [False] * len(sets)
    defined = [s for s, u in zip(sets, undefined, strict=True) if not u]
    pairs = [jaccard(a, b) for a, b in combinations(defined, 2)]
    pairs = [j for j in pairs if not np.isnan(j)]
    counts: dict[int, int] = {}
    for s in defined:
        for i in s:
            counts[i] = counts.get(i, 0) + 1
    r = len(defined)
    note = f"{sum(undefined)} replicate(s) with an undefined set left out" if any(undefined) else ""
    return {
        "replicates": len(sets),
        "sizes": ";".join("undefined" if u else str(len(s)) for s, u in zip(sets, undefined, strict=True)),
        "jaccard_mean": float(np.mean(pairs)) if pairs else float("nan"),
        "jaccard_min": float(np.min(pairs)) if pairs else float("nan"),
        "jaccard_max": float(np.max(pairs)) if pairs else float("nan"),
        "n_any": len(counts),
        "n_majority": sum(c > r / 2 for c in counts.values()),
        "n_every": sum(c == r for c in counts.values()) if r else 0,
        "note": note,
    }
