"""The influence stage's jobs, file to file: influence.csv from one ensemble's members, its comparison with
the duplicate detector, Table 3 split by high-influence memorized partner, and the gallery of pairs."""

import logging
import math

import numpy as np
import pandas as pd

from memgen.analysis.memorized import point_paths, read_memorized
from memgen.data.duplicates import load_duplicate_list
from memgen.data.index import load_index
from memgen.ensemble.outputs import load_outputs
from memgen.errors import fail
from memgen.influence.compute import PAIR_COLUMNS, high_influence, influence_pairs
from memgen.influence.leakage import against_duplicates, parts, with_partner
from memgen.io import load_npz, save_csv
from memgen.utility.jobs import run_accuracies
from memgen.utility.removal import load_removal
from memgen.utility.runs import dedup_keep, utility_frame
from memgen.utility.tables import table3

log = logging.getLogger(__name__)

STAT_COLUMNS = PAIR_COLUMNS[2:]  # rank .. n_out, as memgen.influence.compute gives them
TEST_SET = "original"  # score members are evaluated on the dataset's own test set (memgen/ensemble/jobs.py)
INFLUENCE_COLUMNS = (
    "train_index",
    "train_file",
    "train_label",
    "train_label_name",
    "test_set",
    "test_index",
    "test_file",
    "test_label",
    "test_label_name",
    *STAT_COLUMNS,
    "high",
    "memorized",
)
SPLIT_COLUMNS = (
    "dataset",
    "arch",
    "variant",
    "test_set",
    "part",
    "n_test",
    "acc_memorized_removed",
    "acc_random_removed",
    "diff_pp",
    "std_pp",
    "p_value",
    "seeds",
    "n_removed",
    "note",
)


def member_test_outputs(member_paths, n_test: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """correct bool [K, T] and label log-odds float32 [K, T] of every member on the original test set; a
    member file holding another number of test points fails naming it."""
    key = f"test_{TEST_SET}"
    correct = np.empty((len(member_paths), n_test), dtype=bool)
    log_odds = np.empty((len(member_paths), n_test), dtype=np.float32)
    for k, p in enumerate(member_paths):
        out = load_outputs(p, sets=(key,), fields=("pred", "log_odds"))[key]
        if len(out["pred"]) != n_test:
            raise fail(
                f"{p} holds {len(out['pred'])} points of the test set, the index {n_test}: made for another "
                "dataset",
                f"delete it and rerun: snakemake --forcerun {p}",
            )
        correct[k] = out["pred"] == labels
        log_odds[k] = out["log_odds"]
    return correct, log_odds


def write_influence(masks_path, member_paths, index_path, canaries_path, memorized_path, out, params) -> dict:
    """influence.csv (INFLUENCE_COLUMNS), one row per kept pair, by test point then rank.

    params: ensemble, top, threshold, alpha (memgen.params.influence). Canaries are excluded: their influence
    describes the score ensembles' planted labels, not the dataset.
    """
    idx = load_index(index_path)
    mask = load_npz(masks_path, ["mask"])["mask"].astype(bool)
    member_paths = list(member_paths)
    if len(member_paths) != len(mask) or mask.shape[1] != idx["n"]:
        raise fail(
            f"{masks_path} masks {mask.shape} (members x points); {len(member_paths)} member outputs and "
            f"{idx['n']} training points were passed",
            f"rerun the ensemble: snakemake --forcerun {masks_path}",
        )
    test_labels = np.asarray(idx["test_labels"], dtype=np.int64)
    correct, log_odds = member_test_outputs(member_paths, len(test_labels), test_labels)
    canary = load_npz(canaries_path, ["canary"])["canary"].astype(bool)
    pairs = influence_pairs(mask, correct, log_odds, canary, params["top"], params["threshold"])
    memorized = read_memorized(memorized_path)["index"].to_numpy(np.int64)
    table = influence_table(pairs, idx, params, memorized)
    save_csv(out, table)
    _log_influence(table, params, mask.shape[0])
    return {"pairs": len(table), "high": int(table["high"].sum())}


def influence_table(pairs: pd.DataFrame, idx: dict, params: dict, memorized: np.ndarray) -> pd.DataFrame:
    """The kept pairs with each point's file, label and class name, whether the pair is high-influence
    (memgen.influence.compute.high_influence) and whether the training point is memorized."""
    classes = np.asarray(idx["classes"], dtype=object)
    train, test = pairs["train"].to_numpy(np.int64), pairs["test"].to_numpy(np.int64)
    train_label = np.asarray(idx["labels"], dtype=np.int64)[train]
    test_label = np.asarray(idx["test_labels"], dtype=np.int64)[test]
    table = pd.DataFrame(
        {
            "train_index": train,
            "train_file": point_paths(idx, "train")[train],
            "train_label": train_label,
            "train_label_name": classes[train_label],
            "test_set": TEST_SET,
            "test_index": test,
            "test_file": point_paths(idx, "test")[test],
            "test_label": test_label,
            "test_label_name": classes[test_label],
        }
    )
    for c in STAT_COLUMNS:
        table[c] = pairs[c].to_numpy()
    table["high"] = high_influence(pairs, params["threshold"], params["alpha"])
    table["memorized"] = np.isin(train, memorized)
    return table[list(INFLUENCE_COLUMNS)]


def _log_influence(table: pd.DataFrame, params: dict, k: int) -> None:
    hi = table[table["high"]]
    log.info(
        "%s (%d members): kept %d pairs over %d test points; %d high-influence (infl >= %s, exact p "
        "Bonferroni-adjusted <= %s), "
        "%d of them with a memorized training point",
        params["ensemble"],
        k,
        len(table),
        table["test_index"].nunique(),
        len(hi),
        params["threshold"],
        params["alpha"],
        int(hi["memorized"].sum()),
    )
    for r in hi.sort_values("infl", ascending=False).head(5).itertuples():
        log.info(
            "  train %d (%s) -> test %d (%s): infl %.2f +- %.2f",
            r.train_index,
            r.train_label_name,
            r.test_index,
            r.test_label_name,
            r.infl,
            r.se,
        )


def read_influence(path) -> pd.DataFrame:
    """influence.csv as written (files read as text, flags as booleans); a wrong header fails naming it."""
    try:
        df = pd.read_csv(
            path, keep_default_na=False, na_values=[""], dtype={"train_file": str, "test_file": str}
        )
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise fail(f"cannot read influence table {path}: {e}", "rerun the influence rule") from None
    missing = [c for c in INFLUENCE_COLUMNS if c not in df.columns]
    if missing:
        raise fail(f"influence table {path} lacks columns {missing}", f"rerun: snakemake --forcerun {path}")
    for c in ("train_file", "test_file"):
        df[c] = df[c].fillna("")
    for c in ("high", "memorized"):
        df[c] = df[c].astype(str).str.lower().eq("true")
    return df


def _pairs(table: pd.DataFrame) -> pd.DataFrame:
    return table.rename(columns={"train_index": "train", "test_index": "test"})


def write_influence_duplicates(influence_path, duplicates_path, out) -> pd.DataFrame:
    """influence_duplicates.csv (memgen.influence.leakage.DUPLICATE_COLUMNS)."""
    table = read_influence(influence_path)
    df = against_duplicates(_pairs(table), table["high"].to_numpy(), load_duplicate_list(duplicates_path))
    save_csv(out, df)
    for r in df.itertuples():
        log.info("%s: %d, %d of them found by the other (%s)", r.source, r.pairs, r.found_pair, r.note or "-")
    return df


def _split_row(runs, labels, keep, removed: int, m: int) -> dict:
    """The Table 3 columns of one part: accuracies (%) after memorized vs random removal on `keep`."""
    n = int(keep.sum())
    if n == 0:
        return {"n_test": 0, "note": "no test point in this part"}
    acc = run_accuracies(runs, labels, f"test_{TEST_SET}", keep)
    df = utility_frame(acc["memorized"], acc["random"], removed, TEST_SET)
    if len(df) != m:
        raise fail(
            f"{len(df)} paired utility seeds, {m} expected", "pass every utility run of both conditions"
        )
    row = table3([{"dataset": "", "arch": "", "utility": df}]).iloc[0]  # as Table 3 computes its row
    columns = ("acc_memorized_removed", "acc_random_removed", "diff_pp", "std_pp", "p_value", "seeds")
    return {"n_test": n, **{c: row[c] for c in columns}, "note": ""}


def write_table3_split(
    influence_path, removal_path, run_paths, index_path, duplicates_path, out, params
) -> pd.DataFrame:
    """table3_split.csv (SPLIT_COLUMNS): the Table 3 variant's memorized-vs-random difference on the test
    points with and without a high-influence memorized partner, on the original test set and, where Table 3
    uses the de-duplicated one, on that too.

    params: dataset, arch, variant, test_set (Table 3's), seeds. Influence exists only where the members
    were evaluated, the original test set: a new test set (CIFAR-10.1) is not split, and says so.
    """
    table = read_influence(influence_path)
    idx = load_index(index_path)
    labels = np.asarray(idx["test_labels"], dtype=np.int64)
    sets = load_removal(removal_path)
    memorized = sets["memorized"]
    partner = with_partner(_pairs(table), table["high"].to_numpy(), memorized, len(labels))
    bases = {TEST_SET: np.ones(len(labels), dtype=bool)}
    note = ""
    if params["test_set"] == "dedup":
        bases["dedup"] = dedup_keep(len(labels), load_duplicate_list(duplicates_path))
    elif params["test_set"] != TEST_SET:
        note = f"Table 3 uses {params['test_set']}, where no influence is measured: the original is split"
    rows = []
    for test_set, base in bases.items():
        for part, keep in parts(base, partner).items():
            row = dict.fromkeys(SPLIT_COLUMNS, math.nan)
            row |= {k: params[k] for k in ("dataset", "arch", "variant")}
            row |= {"test_set": test_set, "part": part, "n_removed": len(memorized), "seeds": 0}
            if len(memorized) == 0:
                row |= {"n_test": int(keep.sum()), "note": sets.get("reason", "") or "no memorized points"}
            else:
                row |= _split_row(run_paths, labels, keep, len(memorized), int(params["seeds"]))
            row["note"] = "; ".join(x for x in (row["note"], note) if x)
            rows.append(row)
    df = pd.DataFrame(rows, columns=list(SPLIT_COLUMNS))
    save_csv(out, df)
    for r in df.itertuples():
        log.info(
            "%s %s: %s test points, diff %.2f pp (p %.2g)", r.test_set, r.part, r.n_test, r.diff_pp, r.p_value
        )
    return df


def write_fig_influence(
    influence_path, index_path, dataset: str, arch: str, spec: dict, paths, params
) -> None:
    """The gallery of the strongest pairs (memgen.figures.influence); a message figure without pairs.

    spec: the dataset's loader spec (pixels of non-folder datasets); params: ensemble, gallery, threshold,
    alpha (memgen.params.influence_gallery).
    """
    from memgen.analysis.memorized_jobs import images
    from memgen.figures.influence import fig_influence

    table = read_influence(influence_path)
    idx = load_index(index_path)
    image = {s: images(dataset, spec, idx, s) for s in ("train", "test")} if len(table) else None
    fig_influence(
        table,
        image,
        paths,
        n=params["gallery"],
        title=f"Strongest influence pairs: {dataset}/{arch}, {params['ensemble']} members; high-influence = "
        f"infl ≥ {params['threshold']}, exact p (Bonferroni) ≤ {params['alpha']}",
    )
