"""How well each proxy (memgen.proxies.definitions) ranks points as the reference ensemble does, and what
it costs: Spearman's rho against fz and frac over natural points and against exact leave-one-out
memorization, precision and recall among the top k, AUROC of canaries against natural points, and the
model-epochs it took against the reference ensemble's."""

import math
import warnings

import numpy as np
import pandas as pd
from scipy.stats import norm, spearmanr
from sklearn.metrics import roc_auc_score

from memgen.errors import fail
from memgen.proxies.definitions import PROXIES, oriented

VALIDATION_COLUMNS = (
    "proxy",
    "models",
    "spearman_fz",
    "spearman_fz_lo",
    "spearman_fz_hi",
    "spearman_frac",
    "spearman_frac_lo",
    "spearman_frac_hi",
    "n_natural",
    "spearman_loo",
    "spearman_loo_lo",
    "spearman_loo_hi",
    "n_loo",
    "k",
    "precision_at_k",
    "recall_at_k",
    "auroc_canary",
    "n_canary",
    "model_epochs",
    "reference_model_epochs",
    "cost_ratio",
)
# models "1": the proxies of model 0 alone (column `{name}_1`); "all": their mean over every model (`{name}`)
MODELS = ("1", "all")
COST_KEYS = ("models", "epochs", "reference_model_epochs")


def spearman_ci(a, b, level: float = 0.95) -> tuple[float, float, float, int]:
    """(rho, lo, hi, n): Spearman's rho of the pairs where both values are finite, n of them, and its
    `level` interval from Fisher's z with the Bonett & Wright (2000) standard error
    sqrt((1 + rho^2 / 2) / (n - 3)). rho, lo and hi are NaN when n < 4 or either side is constant (ranks
    undefined); a rho of exactly +-1 gives the interval [rho, rho]."""
    if not 0 < level < 1:
        raise fail(f"interval level {level} is not between 0 and 1", "pass a level such as 0.95")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise fail(
            f"Spearman of {a.shape} values against {b.shape}", "pass two arrays of one value per point"
        )
    ok = np.isfinite(a) & np.isfinite(b)
    a, b, n = a[ok], b[ok], int(ok.sum())
    if n < 4 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan, math.nan, math.nan, n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rho = float(spearmanr(a, b).statistic)
    half = norm.ppf(0.5 + level / 2) * math.sqrt((1 + rho**2 / 2) / (n - 3))
    with np.errstate(divide="ignore"):
        z = np.arctanh(rho)  # +-inf at rho = +-1: tanh brings the interval back to [rho, rho]
    return rho, float(np.tanh(z - half)), float(np.tanh(z + half)), n


def precision_recall_at(score, memorized, k: int | None = None) -> tuple[float, float, int]:
    """(precision, recall, k) of the k points with the highest score (k = the number memorized by
    default; ties broken towards the lower index, NaN scores last): hits / k and hits / memorized. Both
    NaN when k is 0 or no point is memorized."""
    score = np.asarray(score, dtype=float)
    memorized = np.asarray(memorized, dtype=bool)
    if score.shape != memorized.shape:
        raise fail(
            f"{score.shape} scores for {memorized.shape} memorized flags", "pass one of each per point"
        )
    k = int(memorized.sum()) if k is None else int(k)
    if not 0 <= k <= score.size:
        raise fail(f"top k = {k} of {score.size} points", f"pass a k between 0 and {score.size}")
    if k == 0 or not memorized.any():
        return math.nan, math.nan, k
    # a stable sort of -score keeps tied points in index order, and puts NaN after every number
    top = np.argsort(-score, kind="stable")[:k]
    hits = int(memorized[top].sum())
    return hits / k, hits / int(memorized.sum()), k


def auroc(score, positive, negative) -> float:
    """Area under the ROC curve of `score` separating the positive points (label 1) from the negative
    ones (label 0), by sklearn's roc_auc_score; points with a non-finite score are left out, and NaN when
    either group is then empty."""
    score = np.asarray(score, dtype=float)
    positive, negative = np.asarray(positive, dtype=bool), np.asarray(negative, dtype=bool)
    if not score.shape == positive.shape == negative.shape:
        raise fail(
            f"{score.shape} scores for {positive.shape} positive and {negative.shape} negative flags",
            "pass one of each per point",
        )
    ok = np.isfinite(score)
    pos, neg = score[positive & ok], score[negative & ok]
    if pos.size == 0 or neg.size == 0:
        return math.nan
    labels = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    return float(roc_auc_score(labels, np.r_[pos, neg]))


def _columns(table: pd.DataFrame, what: str, wanted) -> None:
    missing = [c for c in wanted if c not in table.columns]
    if missing:
        raise fail(f"{what} lacks columns {missing}", f"give it the columns {list(wanted)}")


def _aligned(proxies: pd.DataFrame, reference: pd.DataFrame, loo: pd.DataFrame | None):
    """(fz [N], frac [N]) of the reference in the rows of `proxies` (NaN where it has none), and (row
    positions, values) of the leave-one-out sample (both empty when loo is None)."""
    _columns(reference, "reference scores", ("index", "fz", "frac"))
    rows = pd.Index(proxies["index"])
    ref = reference.set_index("index")[["fz", "frac"]].reindex(rows)
    if loo is None:
        return ref["fz"].to_numpy(float), ref["frac"].to_numpy(float), np.zeros(0, int), np.zeros(0)
    _columns(loo, "leave-one-out table", ("index", "loo"))
    where = rows.get_indexer(loo["index"])
    if (where < 0).any():
        unknown = loo["index"].to_numpy()[where < 0][:5].tolist()
        raise fail(f"leave-one-out points {unknown} are not in the proxies table", "score the same dataset")
    return ref["fz"].to_numpy(float), ref["frac"].to_numpy(float), where, loo["loo"].to_numpy(float)


def _cost(cost: dict, models: str) -> dict:
    """model_epochs (E for one model, M * E for all), the reference's and their ratio."""
    missing = [k for k in COST_KEYS if k not in cost]
    if missing:
        raise fail(f"cost lacks {missing}", f"pass a cost with {list(COST_KEYS)}")
    spent = int(cost["epochs"]) * (1 if models == "1" else int(cost["models"]))
    reference = int(cost["reference_model_epochs"])
    if reference <= 0:
        raise fail(f"reference_model_epochs is {reference}", "pass the reference ensemble's members x epochs")
    return {"model_epochs": spent, "reference_model_epochs": reference, "cost_ratio": spent / reference}


def _row(score, fz, frac, natural, memorized, canary, loo_at, loo) -> dict:
    """The measures of one oriented proxy `score` [N] (VALIDATION_COLUMNS from spearman_fz to n_canary)."""
    # fz and frac are NaN at the same points (no member in or out): one set of natural points for both
    both = natural & np.isfinite(score) & np.isfinite(fz) & np.isfinite(frac)
    row = {}
    for ref, values in (("fz", fz), ("frac", frac)):
        rho, lo, hi, n = spearman_ci(score[both], values[both])
        row |= {f"spearman_{ref}": rho, f"spearman_{ref}_lo": lo, f"spearman_{ref}_hi": hi, "n_natural": n}
    rho, lo, hi, n = spearman_ci(score[loo_at], loo)
    row |= {"spearman_loo": rho, "spearman_loo_lo": lo, "spearman_loo_hi": hi, "n_loo": n}
    precision, recall, k = precision_recall_at(score[natural], memorized[natural])
    row |= {"k": k, "precision_at_k": precision, "recall_at_k": recall}
    return row | {"auroc_canary": auroc(score, canary, natural), "n_canary": int(canary.sum())}


def validate(
    proxies: pd.DataFrame,
    reference: pd.DataFrame,
    memorized,
    canary,
    loo: pd.DataFrame | None,
    cost: dict,
) -> pd.DataFrame:
    """The validation table (VALIDATION_COLUMNS): one row per proxy, in PROXIES order, and per models in
    MODELS, each measured on the oriented proxy (higher = more memorized).

    `proxies`: memgen.proxies.definitions.proxy_table; `reference`: the reference ensemble's `index`, `fz`
    and `frac` (NaN where not measured); `memorized`, `canary`: bool [N] in the rows of `proxies`; `loo`:
    None or the `index` and exact leave-one-out memorization `loo` of a sample of points; `cost`: the
    proxies' `models` M and `epochs` E and the reference's `reference_model_epochs`. Spearman against fz
    and frac is over the natural points where the proxy, fz and frac are finite (n_natural of them);
    against loo over every sampled point (canaries too) where both are finite; precision and recall at k
    over natural points, k the number of them memorized; AUROC of canaries against natural points.
    """
    _columns(proxies, "proxies table", ("index", *(f"{name}{end}" for name in PROXIES for end in ("_1", ""))))
    memorized, canary = np.asarray(memorized, dtype=bool), np.asarray(canary, dtype=bool)
    if not memorized.shape == canary.shape == (len(proxies),):
        raise fail(
            f"{memorized.shape} memorized and {canary.shape} canary flags for {len(proxies)} points",
            "pass one memorized and one canary flag per row of the proxies table",
        )
    fz, frac, loo_at, loo_values = _aligned(proxies, reference, loo)
    rows = []
    for name in PROXIES:
        for models in MODELS:
            score = oriented(name, proxies[f"{name}_1" if models == "1" else name].to_numpy(float))
            measures = _row(score, fz, frac, ~canary, memorized, canary, loo_at, loo_values)
            rows.append({"proxy": name, "models": models, **measures, **_cost(cost, models)})
    return pd.DataFrame(rows, columns=list(VALIDATION_COLUMNS))
