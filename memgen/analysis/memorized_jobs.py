"""Auditing one's own images: memorized.csv, file to file.

It holds the memorized set of the ablation's "all fixes" variant (memgen.variants), the setup the paper
recommends (docs/decisions.md: The audit shows the all-fixes set); its gallery
(memgen.figures.jobs.write_fig_gallery) shows the same set.
"""

import logging

import numpy as np
import pandas as pd

from memgen.analysis.memorized import held_out_predictions, memorized_table, read_memorized
from memgen.data.index import load_index, point_paths
from memgen.ensemble.outputs import load_outputs
from memgen.errors import fail
from memgen.io import load_json, load_npz, save_csv
from memgen.scores.thresholds import memorized, read_scores, test_verdicts, tie_words

log = logging.getLogger(__name__)


def thresholds_entry(thresholds_path, params: dict) -> tuple[dict, dict]:
    """thresholds.json and its entry for the rule and definition in `params`."""
    t = load_json(thresholds_path)
    if t.get("min_out", params["min_out"]) != params["min_out"]:
        raise fail(
            f"{thresholds_path} was computed with min_out = {t['min_out']}, memorized.csv asks for "
            f"{params['min_out']}",
            f"rerun the thresholds rule: snakemake --forcerun {thresholds_path}",
        )
    try:
        return t, t["rules"][params["rule"]][params["definition"]]
    except (KeyError, TypeError):
        raise fail(
            f"{thresholds_path} has no τ for rule '{params['rule']}' and definition '{params['definition']}'",
            f"rerun the thresholds rule: snakemake --forcerun {thresholds_path}",
        ) from None


def memorized_tau(thresholds_path, params: dict) -> tuple[float | None, str, bool]:
    """τ of the rule and definition in `params`, the thresholds' note (why a set is empty), and whether
    the set requires the interval's lower end to reach τ (threshold.require_interval)."""
    t, entry = thresholds_entry(thresholds_path, params)
    # n_memorized None: the set is undefined (the fit check failed, or the null sits at 0), whatever τ says
    undefined = "n_memorized" in entry and entry["n_memorized"] is None
    return (None if undefined else entry.get("tau")), entry.get("note") or "", bool(t.get("require_interval"))


def _tie_words(entry: dict, definition: str) -> str:
    """memorized.csv's `tie` of a point at τ: what it shares with the canaries there, and that the strict
    reading drops it."""
    ties, tau = entry.get("tau_ties") or {}, entry["tau"]
    words = f"scores exactly tau = {tau:g}"
    if ties.get("canaries"):
        words += f", like {100 * ties['canary_share']:.0f} % of canaries"
    elif ties:
        words += " (no canary does)"
    shared = tie_words(definition, tau, one=True)
    return words + (f": {shared}" if shared else "") + "; the strict reading (score > tau) drops it"


def _tie(t: dict, entry: dict, scores, definition: str, min_out: int) -> dict | None:
    """memorized_table's `tie`: τ, the words of a point at τ, and conf's and lira's null-rule sets (bool [N];
    None where a set is undefined or the file has none)."""
    if entry.get("tau") is None or entry.get("n_memorized", 0) is None:
        return None
    verdicts = {}
    for d in ("conf", "lira"):
        own = (t.get("rules", {}).get("null") or {}).get(d) or {}
        defined = own.get("tau") is not None and own.get("n_memorized") is not None and d in scores.columns
        verdicts[d] = memorized(scores, d, own["tau"], min_out) if defined else None
    return {"tau": entry["tau"], "words": _tie_words(entry, definition), "verdicts": verdicts}


def _rule_verdicts(t: dict, scores, definition: str, min_out: int) -> dict:
    """memorized_table's `rules`: Eq. 3's (the null rule's) set of the definition and the test rule's set,
    p-values and BH-adjusted p-values (bool / float [N]; None where that set is undefined or absent)."""
    null = (t.get("rules", {}).get("null") or {}).get(definition) or {}
    defined = null.get("tau") is not None and null.get("n_memorized") is not None
    req = bool(t.get("require_interval"))
    out = {"null_memorized": memorized(scores, definition, null["tau"], min_out, req) if defined else None}
    v = test_verdicts(scores, t)
    if v is not None:
        out.update(test_memorized=v["flagged"], test_p=v["p"], test_q=v["q_value"])
    return out


def write_memorized(scores_path, thresholds_path, masks_path, output_paths, index_path, out, params) -> None:
    """memorized.csv (memgen.analysis.memorized.COLUMNS): the natural points with score >= τ, highest first.

    params: ensemble, definition, rule ("null" | "fixed"), min_out (memgen.params.memorized).
    What held-out members predict is read from the members' compact outputs (`train__pred`), for the
    memorized points only: over the members whose mask row holds the point out. The rows are the set of
    params' rule (the "all fixes" variant's: the null rule); each row also carries both rules' verdicts
    (memgen.analysis.memorized.RULE_COLUMNS: Eq. 3's and the exact test's, docs/decisions.md).
    """
    scores = read_scores(scores_path)
    idx = load_index(index_path)
    if len(scores) != idx["n"]:
        raise fail(
            f"{scores_path} has {len(scores)} rows, the index {index_path} {idx['n']} training points",
            f"rerun the scores rule: snakemake --forcerun {scores_path}",
        )
    definition = params["definition"]
    tau, note, require_interval = memorized_tau(thresholds_path, params)
    tie = _tie(*thresholds_entry(thresholds_path, params), scores, definition, params["min_out"])
    is_mem = memorized(scores, definition, tau, params["min_out"], require_interval)
    points = np.flatnonzero(is_mem)
    mask = load_npz(masks_path, ["mask"])["mask"]
    if len(output_paths) != len(mask):
        raise fail(
            f"{len(output_paths)} member outputs for a mask of {len(mask)} members",
            "rerun the ensemble's members",
        )
    pred = np.zeros((len(mask), len(points)), dtype=np.int64)
    if len(points):  # member k's outputs = mask row k (paths sorted by block, slot)
        for k, p in enumerate(output_paths):
            pred[k] = load_outputs(p, n=idx["n"], fields=("pred",))["train"]["pred"][points]
    label = scores["label"].to_numpy(dtype=np.int64)[points]  # natural points: the given (folder) label
    held = held_out_predictions(mask[:, points], pred, label, idx["num_classes"])
    rules = _rule_verdicts(load_json(thresholds_path), scores, definition, params["min_out"])
    table = memorized_table(scores, is_mem, definition, idx["classes"], point_paths(idx), held, tie, rules)
    save_csv(out, table)
    _log_memorized(table, definition, tau, params["rule"], note)
    if rules.get("test_memorized") is not None:
        log.info(
            "the test rule flags %d of these %d points (and %d natural points in all)",
            int(table["test_memorized"].fillna(False).sum()),
            len(table),
            int(rules["test_memorized"].sum()),
        )


def _log_memorized(table, definition: str, tau, rule: str, note: str) -> None:
    """The set's size, how many look mislabelled, and how many rest on the tie at τ."""
    if table.empty:
        log.info("no point is memorized (%s, %s rule): %s", definition, rule, note or "τ undefined")
        return
    agree = int((table["predicted_instead_share"] > 0.5).sum())
    log.info(
        "%d memorized points (%s >= τ = %.3g, %s rule); for %d of them more than half of the held-out "
        "members agree on one other class (a possible mislabel)",
        len(table),
        definition,
        tau,
        rule,
        agree,
    )
    at_tau = table["at_tau"].fillna(False).to_numpy(dtype=bool)
    if at_tau.any():
        words = table["tie"][at_tau].iloc[0]
        log.info(
            "%d of them rest on the tie at τ (each %s); strict: %d", at_tau.sum(), words, (~at_tau).sum()
        )


# ---- replicates -------------------------------------------------------------------------------------------
def _replicate_sets(memorized_paths, thresholds_paths, params) -> tuple[list, list[set], list[bool]]:
    """memorized.csv of each replicate, its set of indices, and whether the set is undefined (τ undefined)."""
    tables = [read_memorized(p) for p in memorized_paths]
    undefined = [memorized_tau(t, params)[0] is None for t in thresholds_paths]
    return tables, [set(t["index"].astype(int)) for t in tables], undefined


def write_memorized_replicates(memorized_paths, thresholds_paths, out, params) -> None:
    """memorized_replicates.csv (memgen.analysis.replicates.PER_FILE_COLUMNS) of one dataset x arch: every
    file memorized in some replicate, in how many of the R. params: as write_memorized's."""
    from memgen.analysis.replicates import overlap, per_file

    tables, sets, undefined = _replicate_sets(memorized_paths, thresholds_paths, params)
    df = per_file(tables)
    save_csv(out, df)
    o = overlap(sets, undefined)
    log.info(
        "%d replicates: memorized %s; %d points in any, %d in every one; Jaccard mean %.2f (%.2f to %.2f)",
        o["replicates"],
        o["sizes"],
        o["n_any"],
        o["n_every"],
        o["jaccard_mean"],
        o["jaccard_min"],
        o["jaccard_max"],
    )


def write_replicate_overlap(memorized_paths, thresholds_paths, pairs, out, params) -> None:
    """replicate_overlap.csv (memgen.analysis.replicates.OVERLAP_COLUMNS): one row per dataset x arch.
    `pairs`: [dataset, arch] per pair; the paths are each pair's R files in turn, replicate 1 first."""
    from memgen.analysis.replicates import OVERLAP_COLUMNS, overlap

    r = len(memorized_paths) // max(len(pairs), 1)
    rows = []
    for k, (dataset, arch) in enumerate(pairs):
        part = slice(k * r, (k + 1) * r)
        _, sets, undefined = _replicate_sets(memorized_paths[part], thresholds_paths[part], params)
        rows.append({"dataset": dataset, "arch": arch, **overlap(sets, undefined)})
    save_csv(out, pd.DataFrame(rows, columns=list(OVERLAP_COLUMNS)))
