"""The field's released layouts, written from a finished study (memgen export) and held against it (memgen
compare): Feldman & Zhang's high-influence pairs and full estimates (pluskid/influence-memorization), and
Jiang et al.'s C-scores (pluskid/structural-regularity). docs/artifacts.md describes each layout.

memgen's estimates in these layouts:
- memorization per training point: one ensemble's `fz` (Feldman & Zhang's estimator) or `frac`;
- influence: from the ensemble influence.json names (under crossfit one that chose no memorized set);
- a consistency score (the C-score's estimate): the held-out members' accuracy on the point, `acc_out`.
Indices are memgen's dataset index order (the dataset's own order for CIFAR, Fashion-MNIST and digits; a
`subset`'s order for a subset), with the labels arrays a reader checks the order by. Canaries carry another
label inside the score ensembles, so their estimates are NaN (their rows kept, so indices stay aligned).
"""

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from memgen.errors import fail
from memgen.results import Study

# the releases' cuts: pairs with infl >= 0.15 whose training point has mem >= 0.25
MEM_CUT, INFL_CUT = 0.25, 0.15
PAIR_COLUMNS = ("train_index", "test_index", "test_set", "infl")  # what the pairs need of influence.csv
PAIRS_KEYS = {"tr_idx": np.int64, "tt_idx": np.int64, "infl": np.float64, "mem": np.float64}
CSCORE_KEYS = {"labels": np.int64, "scores": np.float64}
MATRIX_KEYS = ("tr_mem", "tr_labels", "tt_labels")


def layout(keys) -> str:
    """Which released layout an npz's keys are: pairs, matrix or cscores."""
    keys = set(keys)
    if set(PAIRS_KEYS) <= keys:
        return "pairs"
    if set(MATRIX_KEYS) <= keys:
        return "matrix"
    if set(CSCORE_KEYS) <= keys:
        return "cscores"
    raise fail(
        f"an npz with keys {', '.join(sorted(keys))} is none of the released layouts",
        "give Feldman & Zhang's pairs (tr_idx, tt_idx, infl, mem) or estimates (tr_mem, tr_labels, "
        "tt_labels, "
        "infl_matrix_class*), or Jiang et al.'s C-scores (labels, scores)",
    )


# ---- memgen's estimates ----------------------------------------------------------------------
def estimates(study: Study, ensemble: str, definition: str, dataset=None, arch=None) -> dict:
    """Per training point, in index order: true label, memorization, consistency (NaN on canaries), canary."""
    if definition not in ("fz", "frac"):
        raise fail(f"definition {definition}", "export fz (Feldman & Zhang's estimator) or frac")
    s = study.scores(ensemble, dataset, arch)
    canary = s["canary"].to_numpy(bool)
    mem = s[definition].to_numpy(np.float64).copy()
    consistency = s["acc_out"].to_numpy(np.float64).copy()
    mem[canary] = np.nan
    consistency[canary] = np.nan
    return {
        "labels": s["true_label"].to_numpy(np.int64),
        "mem": mem,
        "consistency": consistency,
        "canary": canary,
    }


def influence_members(study: Study, dataset=None, arch=None) -> dict:
    """The influence ensemble's mask [K, N], its members' correctness on the test set [K, T], the index."""
    from memgen.influence.jobs import ensemble_outputs

    dataset, arch = study.which(dataset, arch)
    ens = study.influence_summary(dataset, arch)["ensemble"]
    d = study.root / dataset / arch / ens
    masks = np.load(d / "masks.npz")
    block = int(masks["block_size"])
    members = sorted(
        d.glob("members/*/*/outputs.npz"), key=lambda p: int(p.parts[-3]) * block + int(p.parts[-2])
    )
    data = study.root / dataset / "data"
    return ensemble_outputs(d / "masks.npz", members, data / "index.npz", data / "canaries.npz") | {
        "ensemble": ens
    }


def class_influence(mask: np.ndarray, correct: np.ndarray, train_labels, test_labels, canary, k: int) -> dict:
    """Influence within class k (Feldman & Zhang's per-class matrices) [n_train_k, n_test_k], and indices."""
    tr = np.flatnonzero(train_labels == k)
    tt = np.flatnonzero(test_labels == k)
    m = mask[:, tr].astype(np.float64)
    c = correct[:, tt].astype(np.float64)
    n_in, n_out = m.sum(0), (1 - m).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        infl = (m.T @ c) / n_in[:, None] - ((1 - m).T @ c) / n_out[:, None]
    infl[canary[tr]] = np.nan
    return {
        f"infl_matrix_class{k}": infl,
        f"tr_classidx_{k}": tr.astype(np.int64),
        f"tt_classidx_{k}": tt.astype(np.int64),
    }


def export(
    study: Study, out: str | Path, ensemble: str, definition: str = "fz", dataset=None, arch=None
) -> list[Path]:
    """Write the three layouts for one study; returns the files written."""
    dataset, arch = study.which(dataset, arch)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    est = estimates(study, ensemble, definition, dataset, arch)
    inf = influence_members(study, dataset, arch)
    test_labels = np.asarray(inf["idx"]["test_labels"], dtype=np.int64)
    pairs = memgen_pairs(study, est["mem"], dataset, arch)
    stem = f"{dataset}_{arch}_{ensemble}_{definition}"
    written = []
    path = out / f"{stem}_high_infl_pairs_infl{INFL_CUT}_mem{MEM_CUT}.npz"
    np.savez(
        path,
        tr_idx=pairs["train_index"].to_numpy(np.int64),
        tt_idx=pairs["test_index"].to_numpy(np.int64),
        infl=pairs["infl"].to_numpy(np.float64),
        mem=pairs["mem"].to_numpy(np.float64),
    )
    written.append(path)
    matrices = {}
    for k in range(int(inf["idx"]["num_classes"])):
        matrices |= class_influence(inf["mask"], inf["correct"], est["labels"], test_labels, est["canary"], k)
    path = out / f"{stem}_infl_matrix.npz"
    np.savez(path, tr_mem=est["mem"], tr_labels=est["labels"], tt_labels=test_labels, **matrices)
    written.append(path)
    path = out / f"{dataset}_{arch}_{ensemble}-cscores-orig-order.npz"
    np.savez(path, labels=est["labels"], scores=est["consistency"])
    written.append(path)
    return written


# ---- compare --------------------------------------------------------------------------------
def _check_labels(name: str, theirs: np.ndarray, ours: np.ndarray) -> None:
    if len(theirs) != len(ours):
        raise fail(
            f"{name}: the file has {len(theirs):,} labels, the study {len(ours):,}",
            "compare a file of the same dataset and split (its original index order)",
        )
    diff = np.flatnonzero(np.asarray(theirs) != ours)
    if len(diff):
        i = int(diff[0])
        raise fail(
            f"{name}: label {theirs[i]} at index {i} in the file, {ours[i]} in the study "
            f"({len(diff):,} differ)",
            "the file is in another order or of another dataset: compare one in the dataset's own order",
        )


def spearman(a, b) -> dict:
    """Spearman's rho over points finite in both, with a 95 % interval (Fisher z, se 1.03 / sqrt(n - 3))."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = int(ok.sum())
    if n < 4:
        return {"rho": np.nan, "lo": np.nan, "hi": np.nan, "n": n}
    rho = float(stats.spearmanr(a[ok], b[ok]).statistic)
    z, half = np.arctanh(np.clip(rho, -0.999999, 0.999999)), 1.96 * 1.03 / np.sqrt(n - 3)
    return {"rho": rho, "lo": float(np.tanh(z - half)), "hi": float(np.tanh(z + half)), "n": n}


def overlap(theirs: set, ours: set) -> dict:
    both = len(theirs & ours)
    union = len(theirs | ours)
    return {
        "theirs": len(theirs),
        "ours": len(ours),
        "both": both,
        "jaccard": both / union if union else np.nan,
    }


def memgen_pairs(study: Study, mem: np.ndarray, dataset=None, arch=None) -> pd.DataFrame:
    """memgen's pairs in the releases' sense: on the original test set, infl >= 0.15 and the training point's
    mem >= 0.25 (columns train_index, test_index, infl, mem)."""
    pairs = study.influence(dataset, arch, columns=PAIR_COLUMNS)
    pairs = pairs[pairs["test_set"] == "original"].copy()
    pairs["mem"] = mem[pairs["train_index"].to_numpy()]
    return pairs[(pairs["infl"] >= INFL_CUT) & (pairs["mem"] >= MEM_CUT)]


def _compare_matrix(f: dict, est: dict, definition: str, tau) -> list[dict]:
    theirs, ours = f["tr_mem"].astype(np.float64), est["mem"]
    rows = [{"comparison": f"Spearman, memorization vs memgen's {definition}", **spearman(theirs, ours)}]
    for name, cut in (
        (f"{definition} >= {MEM_CUT}", MEM_CUT),
        (f"{definition} >= its null tau {tau:.3g}" if tau is not None else "", tau),
    ):
        if cut is None:
            continue
        a = set(np.flatnonzero(np.nan_to_num(theirs, nan=-np.inf) >= MEM_CUT))
        b = set(np.flatnonzero(np.nan_to_num(ours, nan=-np.inf) >= cut))
        rows.append(
            {"comparison": f"memorized sets: theirs mem >= {MEM_CUT}, memgen's {name}", **overlap(a, b)}
        )
    return rows


def _compare_pairs(f: dict, est: dict, ours: pd.DataFrame) -> list[dict]:
    mine = set(zip(ours["train_index"].tolist(), ours["test_index"].tolist(), strict=True))
    theirs = set(zip(f["tr_idx"].tolist(), f["tt_idx"].tolist(), strict=True))
    what = f"high-influence pairs (infl >= {INFL_CUT}, mem >= {MEM_CUT})"
    mem = f["mem"].astype(np.float64)
    return [
        {"comparison": what, **overlap(theirs, mine)},
        {"comparison": "Spearman, the pairs' mem vs memgen's", **spearman(mem, est["mem"][f["tr_idx"]])},
    ]


def compare(
    path, study: Study, ensemble: str, definition: str = "fz", dataset=None, arch=None
) -> pd.DataFrame:
    """One row per comparison the file allows: Spearman of the estimates, overlaps of the sets and pairs."""
    path = Path(path)
    if not path.exists():
        raise fail(f"{path} does not exist", "give a released npz (Feldman & Zhang's or the C-scores)")
    with np.load(path) as z:
        f = {k: z[k] for k in z.files}
    kind = layout(f)
    est = estimates(study, ensemble, definition, dataset, arch)
    if kind in ("matrix", "cscores"):
        labels = f["tr_labels" if kind == "matrix" else "labels"]
        _check_labels(f"{path.name} (training labels)", labels, est["labels"])
    if kind == "matrix":
        tau = study.thresholds(ensemble, dataset, arch)["rules"]["null"][definition].get("tau")
        return pd.DataFrame(_compare_matrix(f, est, definition, tau))
    if kind == "cscores":
        what = "Spearman, C-score vs memgen's held-out accuracy"
        return pd.DataFrame([{"comparison": what, **spearman(f["scores"], est["consistency"])}])
    return pd.DataFrame(_compare_pairs(f, est, memgen_pairs(study, est["mem"], dataset, arch)))


def format_comparison(table: pd.DataFrame, path, study: Study) -> str:
    lines = [f"memgen compare: {path} against {study.root}"]
    for _, r in table.iterrows():
        if "rho" in r and pd.notna(r.get("rho")):
            lines.append(
                f"  {r['comparison']}: rho {r['rho']:.3f} [{r['lo']:.3f}, {r['hi']:.3f}] "
                f"over {int(r['n']):,} points"
            )
        elif "both" in r and pd.notna(r.get("both")):
            lines.append(
                f"  {r['comparison']}: theirs {int(r['theirs']):,}, memgen {int(r['ours']):,}, "
                f"both {int(r['both']):,} "
                f"(Jaccard {r['jaccard']:.3f})"
            )
        else:
            lines.append(f"  {r['comparison']}: too few points to compare")
    return "\n".join(lines)


def comparison_figure(
    path, study: Study, ensemble: str, definition: str, out, dataset=None, arch=None
) -> None:
    """Their estimate against memgen's, point by point (hexbin), for the matrix and C-score layouts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with np.load(path) as z:
        f = {k: z[k] for k in z.files}
    kind = layout(f)
    est = estimates(study, ensemble, definition, dataset, arch)
    if kind == "pairs":
        theirs, ours, what = (
            f["mem"],
            est["mem"][f["tr_idx"]],
            f"memorization of the pairs' training points ({definition})",
        )
    elif kind == "matrix":
        theirs, ours, what = f["tr_mem"], est["mem"], f"memorization ({definition})"
    else:
        theirs, ours, what = f["scores"], est["consistency"], "C-score / held-out accuracy"
    ok = np.isfinite(theirs) & np.isfinite(ours)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    hb = ax.hexbin(theirs[ok], ours[ok], gridsize=30, mincnt=1, bins="log", cmap="viridis")
    fig.colorbar(hb, ax=ax, label="points")
    ax.plot([-1, 1], [-1, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlabel(f"{Path(path).name}")
    ax.set_ylabel(f"memgen, {ensemble}")
    ax.set_title(what, fontsize="medium")
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    plt.close(fig)
