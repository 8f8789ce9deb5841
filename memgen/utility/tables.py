"""The study's tables: the ablation (paper Table 1/4) and utility per dataset × arch (Table 3)."""

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.utility.stats import ablation_delta, paired_score

TABLE1_COLUMNS = (
    "dataset",
    "arch",
    "variant",
    "score_pp",
    "std_pp",
    "p_value",
    "delta_pp",
    "delta_p_value",
    "seeds",
    "n_removed",
    "note",
)
TABLE3_COLUMNS = (
    "dataset",
    "arch",
    "test_set",
    "acc_memorized_removed",
    "acc_random_removed",
    "diff_pp",
    "std_pp",
    "p_value",
    "significant_0.05",
    "seeds",
    "n_removed",
    "note",
)
NAN = float("nan")


def _usable(utility) -> bool:
    return utility is not None and len(utility) > 0


def _n_removed(utility: pd.DataFrame, where: str) -> int:
    values = utility["n_removed"].unique()
    if len(values) != 1:
        raise fail(
            f"utility table of {where} mixes removal sizes {sorted(values.tolist())}",
            "build one utility table per removal set",
        )
    return int(values[0])


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _few_seeds(n: int) -> str:
    return "fewer than 2 seeds: no t-test" if 0 < n < 2 else ""


def table1(variants: list[dict]) -> pd.DataFrame:
    """Ablation table: Score (pp, ± std, paired p) per variant and Δ against the baseline.

    Each dict: dataset, arch, variant, utility (utility_frame() table or None when the memorized set
    is empty), reason (why it is empty, "" otherwise). The first variant of each (dataset, arch), in
    list order, is its baseline; its own Δ is 0 by construction (Welch p 1 when defined).
    """
    order: list[tuple] = []
    groups: dict[tuple, list[dict]] = {}
    for v in variants:
        key = (v["dataset"], v["arch"])
        if key not in groups:
            order.append(key)
            groups[key] = []
        groups[key].append(v)

    rows = []
    for key in order:
        base = groups[key][0]
        base_diff = base["utility"]["diff_pp"].to_numpy(float) if _usable(base["utility"]) else None
        for i, v in enumerate(groups[key]):
            u = v["utility"]
            note = "baseline" if i == 0 else ""
            row = {"dataset": key[0], "arch": key[1], "variant": v["variant"]}
            if not _usable(u):
                rows.append(
                    row
                    | {"score_pp": NAN, "std_pp": NAN, "p_value": NAN, "delta_pp": NAN, "delta_p_value": NAN}
                    | {
                        "seeds": 0,
                        "n_removed": 0,
                        "note": _join(note, v.get("reason", "") or "no utility runs"),
                    }
                )
                continue
            diff = u["diff_pp"].to_numpy(float)
            s = paired_score(diff)
            if base_diff is None:
                d = {"delta": NAN, "p": NAN}
                note = _join(note, "baseline has no memorized points: no Δ")
            else:
                d = ablation_delta(diff, base_diff)
            rows.append(
                row
                | {"score_pp": s["score"], "std_pp": s["std"], "p_value": s["p"]}
                | {"delta_pp": d["delta"], "delta_p_value": d["p"], "seeds": s["n"]}
                | {
                    "n_removed": _n_removed(u, f"{key} {v['variant']}"),
                    "note": _join(note, _few_seeds(s["n"])),
                }
            )
    return pd.DataFrame(rows, columns=list(TABLE1_COLUMNS))


def table3(rows: list[dict]) -> pd.DataFrame:
    """Utility per dataset × arch: mean accuracy (%) after memorized vs random removal, difference
    (pp, ± std), paired two-sided p and whether p < 0.05 (NA when p is undefined).

    Each dict: dataset, arch, utility (utility_frame() table or None), reason; test_set is taken
    from the utility table, or from the dict when the table is None.
    """
    out = []
    for r in rows:
        u = r["utility"]
        row = {"dataset": r["dataset"], "arch": r["arch"]}
        if not _usable(u):
            out.append(
                row
                | {"test_set": r.get("test_set", ""), "acc_memorized_removed": NAN, "acc_random_removed": NAN}
                | {"diff_pp": NAN, "std_pp": NAN, "p_value": NAN, "significant_0.05": pd.NA, "seeds": 0}
                | {"n_removed": 0, "note": r.get("reason", "") or "no utility runs"}
            )
            continue
        test_sets = u["test_set"].unique()
        if len(test_sets) != 1:
            raise fail(
                f"utility table of {r['dataset']}/{r['arch']} mixes test sets {list(test_sets)}",
                "build one utility table per test set",
            )
        s = paired_score(u["acc_memorized"].to_numpy(float), u["acc_random"].to_numpy(float))
        out.append(
            row
            | {"test_set": str(test_sets[0])}
            | {"acc_memorized_removed": float(u["acc_memorized"].mean())}
            | {"acc_random_removed": float(u["acc_random"].mean())}
            | {"diff_pp": s["score"], "std_pp": s["std"], "p_value": s["p"]}
            | {"significant_0.05": pd.NA if np.isnan(s["p"]) else bool(s["p"] < 0.05), "seeds": s["n"]}
            | {"n_removed": _n_removed(u, f"{r['dataset']}/{r['arch']}"), "note": _few_seeds(s["n"])}
        )
    df = pd.DataFrame(out, columns=list(TABLE3_COLUMNS))
    df["significant_0.05"] = df["significant_0.05"].astype("boolean")
    return df
