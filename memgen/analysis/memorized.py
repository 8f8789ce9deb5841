"""The memorized set as a list a user can act on: which file, its given label, its scores, and what the
members that never saw it predict instead.

`results/{dataset}/{arch}/memorized.csv` (written by memgen.analysis.memorized_jobs.write_memorized) reads:
a point memorized with held-out members agreeing on one other class (`predicted_instead_share` near 1)
is likely mislabelled; one whose held-out members scatter over classes (low share, acc_out low too) is
rare or ambiguous but may well be correct. A point scoring exactly τ (`at_tau`) is memorized only because ties
count: `tie` says what it shares with the canaries at τ, and `conf_memorized`/`lira_memorized` whether the
continuous definitions memorize it too. Both threshold rules' verdicts stand side by side: `null_memorized`
(Eq. 3's set) and `test_memorized` (the exact test at a stated false-discovery rate, memgen.scores.fdr) with
the test's p-value and BH-adjusted p (`test_p`, `test_q`).
"""

import numpy as np
import pandas as pd

from memgen.errors import fail

# What a point memorized on a tie at τ is (memorized_table's `tie`); a file written before them still reads
TIE_COLUMNS = ("at_tau", "tie", "conf_memorized", "lira_memorized")
# Each threshold rule's verdict on the point (NA where that rule's set is undefined); likewise optional
RULE_COLUMNS = ("null_memorized", "test_memorized", "test_p", "test_q")
COLUMNS = (
    "index",
    "path",
    "label",
    "label_name",
    "score",
    "fz",
    "frac",
    "conf",
    "lira",
    "acc_in",
    "acc_out",
    "n_in",
    "n_out",
    "predicted_instead",
    "predicted_instead_name",
    "predicted_instead_share",
    *TIE_COLUMNS,
    *RULE_COLUMNS,
)
NONE = -1  # predicted_instead when every held-out member predicts the given label
_CHUNK = 4096  # points per counting block: 4096 x 1000 classes x 8 bytes = 33 MB at ImageNet scale


def held_out_predictions(mask: np.ndarray, pred: np.ndarray, label: np.ndarray, num_classes: int) -> dict:
    """What the members that did not train on each point predict for it.

    mask bool [K, m] (member k trained on point j), pred int [K, m] (member k's predicted class of point j),
    label int [m] (the given label). Returns arrays [m]: n_out (held-out members), label_share (share of
    them predicting the label = acc_out), instead (most common predicted class other than the label; ties
    go to the lowest class; NONE when no held-out member predicts another class) and instead_share (share
    of held-out members predicting it; 0 with NONE). Shares are NaN when no member holds the point out.
    """
    mask, pred = np.asarray(mask, dtype=bool), np.asarray(pred)
    label = np.asarray(label, dtype=np.int64).ravel()
    if mask.shape != pred.shape or mask.shape[1:] != label.shape:
        raise fail(
            f"mask {mask.shape}, predictions {pred.shape} and labels {label.shape} do not match",
            "pass the members' predictions of the same points the mask covers",
        )
    m = len(label)
    out = {
        "n_out": (~mask).sum(0).astype(np.int64),
        "label_share": np.full(m, np.nan),
        "instead": np.full(m, NONE, dtype=np.int64),
        "instead_share": np.full(m, np.nan),
    }
    for lo in range(0, m, _CHUNK):
        j = slice(lo, min(m, lo + _CHUNK))
        held = ~mask[:, j]
        cols = np.broadcast_to(np.arange(held.shape[1]), held.shape)[held]
        counts = np.zeros((held.shape[1], num_classes), dtype=np.int64)
        np.add.at(counts, (cols, pred[:, j][held].astype(np.int64)), 1)
        n_out = out["n_out"][j]
        rows = np.arange(len(counts))
        with np.errstate(invalid="ignore", divide="ignore"):
            out["label_share"][j] = np.where(n_out > 0, counts[rows, label[j]] / n_out, np.nan)
            counts[rows, label[j]] = -1  # "instead": any class but the given one
            best = counts.argmax(1)
            top = counts[rows, best]
            out["instead"][j] = np.where(top > 0, best, NONE)
            out["instead_share"][j] = np.where(n_out > 0, np.maximum(top, 0) / n_out, np.nan)
    return out


def memorized_table(
    scores: pd.DataFrame,
    is_memorized: np.ndarray,
    definition: str,
    classes: list[str],
    paths: np.ndarray,
    held_out: dict,
    tie: dict | None = None,
    rules: dict | None = None,
) -> pd.DataFrame:
    """The rows of memorized.csv (COLUMNS), highest score first (ties by index).

    is_memorized bool [N] (memgen.scores.thresholds.memorized); paths str [N] (point_paths); held_out: the
    arrays of held_out_predictions for the memorized points, in index order. `score` repeats the definition's
    column the set was chosen by, so the file reads on its own. tie: {"tau", "words" (what a point at τ shares
    with the canaries there), "verdicts" {"conf", "lira": bool [N], or None where that set is undefined}}
    for the TIE_COLUMNS (`tie_columns`); None leaves them empty. rules: the RULE_COLUMNS over all N points
    (`rule_columns`); None leaves them empty.
    """
    idx = np.flatnonzero(np.asarray(is_memorized, dtype=bool))
    if len(held_out["instead"]) != len(idx):
        raise ValueError(f"held-out predictions for {len(held_out['instead'])} points, {len(idx)} memorized")
    names = np.array([*classes, ""], dtype=object)  # NONE (-1) reads as ""
    rows = scores.iloc[idx]
    label = rows["label"].to_numpy(dtype=np.int64)
    table = pd.DataFrame(
        {
            "index": idx.astype(np.int64),
            "path": np.asarray(paths, dtype=object)[idx],
            "label": label,
            "label_name": names[label],
            "score": rows[definition].to_numpy(dtype=float),
            **{c: rows[c].to_numpy() for c in ("fz", "frac")},
            # every definition's score, so the file reads on its own whichever chose the set
            **{c: rows[c].to_numpy() if c in rows else np.full(len(rows), np.nan) for c in ("conf", "lira")},
            **{c: rows[c].to_numpy() for c in ("acc_in", "acc_out", "n_in", "n_out")},
            "predicted_instead": held_out["instead"],
            "predicted_instead_name": names[held_out["instead"]],
            "predicted_instead_share": held_out["instead_share"],
            **tie_columns(rows[definition].to_numpy(dtype=float), idx, tie),
            **rule_columns(idx, rules),
        },
        columns=list(COLUMNS),
    )
    order = np.lexsort((table["index"].to_numpy(), -table["score"].to_numpy()))
    return table.iloc[order].reset_index(drop=True)


def tie_columns(score: np.ndarray, idx: np.ndarray, tie: dict | None) -> dict:
    """TIE_COLUMNS of the memorized points `idx` (scores `score`): at_tau (score exactly τ: memorized only
    because ties count, the strict reading score > τ drops it), tie (`tie["words"]` where at_tau, else ""),
    conf_memorized and lira_memorized (in that definition's null-rule set; NA where it is undefined)."""
    n = len(idx)
    if tie is None:
        return {"at_tau": pd.array([pd.NA] * n, dtype="boolean"), "tie": [""] * n} | {
            f"{d}_memorized": pd.array([pd.NA] * n, dtype="boolean") for d in ("conf", "lira")
        }
    at_tau = score == tie["tau"]
    out = {
        "at_tau": pd.array(at_tau, dtype="boolean"),
        "tie": np.where(at_tau, tie["words"], "").astype(object),
    }
    for d in ("conf", "lira"):
        verdict = tie["verdicts"].get(d)
        out[f"{d}_memorized"] = pd.array(
            [pd.NA] * n if verdict is None else np.asarray(verdict, dtype=bool)[idx], dtype="boolean"
        )
    return out


def rule_columns(idx: np.ndarray, rules: dict | None) -> dict:
    """RULE_COLUMNS of the points `idx`. rules: {"null_memorized", "test_memorized": bool [N] or None where
    that set is undefined; "test_p", "test_q": float [N] or None}; None: all empty."""
    rules = rules or {}
    out = {}
    for c in RULE_COLUMNS:
        v = rules.get(c)
        if c.endswith("_memorized"):
            values = [pd.NA] * len(idx) if v is None else np.asarray(v, dtype=bool)[idx]
            out[c] = pd.array(values, dtype="boolean")
        else:
            out[c] = np.full(len(idx), np.nan) if v is None else np.asarray(v, dtype=float)[idx]
    return out


def read_memorized(path) -> pd.DataFrame:
    """memorized.csv as written: `path`, the class names and `tie` stay text ("" where empty, never NaN), the
    flags read as booleans (NA where empty); a file written before TIE_COLUMNS or RULE_COLUMNS gets them
    empty."""
    from pathlib import Path

    path = Path(path)
    if not path.exists():
        raise fail(f"{path} does not exist", f"run the rule that makes it: snakemake {path}")
    text = ("path", "label_name", "predicted_instead_name", "tie")  # a class may be named "NA" or "null"
    flags = ("at_tau", "conf_memorized", "lira_memorized", "null_memorized", "test_memorized")
    numbers = {c: [""] for c in COLUMNS if c not in text + flags}
    df = pd.read_csv(path, dtype=dict.fromkeys(text + flags, str), keep_default_na=False, na_values=numbers)
    missing = [c for c in COLUMNS if c not in df.columns and c not in TIE_COLUMNS + RULE_COLUMNS]
    if missing:
        raise fail(f"{path} lacks columns {missing}", f"delete it and rerun: snakemake --forcerun {path}")
    for c in flags:
        values = df[c] if c in df.columns else pd.Series([""] * len(df), dtype=str)
        df[c] = pd.array(values.map({"True": True, "False": False}), dtype="boolean")
    if "tie" not in df.columns:
        df["tie"] = ""
    for c in ("test_p", "test_q"):  # a file written before the test rule
        if c not in df.columns:
            df[c] = np.nan
    return df[list(COLUMNS)]
