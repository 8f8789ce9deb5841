"""The pages of docs/results, written from a run's files: a template's prose with `{{ name }}` fields, each
filled from the results folder it names (memgen page), so every number on a page is the run's own and
`memgen page --check` says when a page no longer matches its run.

A template begins with a front matter of `source` lines, one per run it reads, then the page:

    source n60k: /work/run60k            # a study's working directory (results/ and logs/ inside)
    ---
    The reference fits {{ n60k.fit.rate0.95.train_acc }} of its natural points ...

Fields are `<source>.<fact>`; `memgen page TEMPLATE --list` prints every fact a source offers. A field the
source does not offer is an error naming it, never an empty cell.
"""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.influence.jobs import read_influence
from memgen.results import read_csv

FIELD = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")
SOURCE = re.compile(r"^source\s+(\w+)\s*:\s*(\S+)(?:\s+(\w+)/(\w+))?\s*(#.*)?$")
BANNER = "<!-- written by `memgen page {template}` from {sources}; edit the template, not this page -->"


# ---- formatting ------------------------------------------------------------------------------------------
def pct(x, digits: int = 1) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{100 * float(x):.{digits}f} %"


def num(x, fmt: str = "{:.2f}") -> str:
    return "n/a" if x is None or pd.isna(x) else fmt.format(float(x))


def pval(x) -> str:
    if x is None or pd.isna(x):
        return "n/a"
    x = float(x)
    return f"{x:.2g}" if x >= 0.001 else f"{x:.1e}"


def count(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{int(x):,}"


def pp(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{float(x):+.2f} pp"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ---- what a run's files say ------------------------------------------------------------
def study_dir(root: Path, which: str | None = None) -> tuple[str, str]:
    """The (dataset, arch) of replicate 1 a run holds (results/<dataset>/<arch>/memorized.csv): `which`
    ("dataset/arch"), else the only one."""
    found = sorted(
        p.parent for p in (root / "results").glob("*/*/memorized.csv") if ".rep" not in p.parts[-3]
    )
    if which:
        found = [p for p in found if f"{p.parent.name}/{p.name}" == which]
    if len(found) != 1:
        raise fail(
            f"{root}/results holds {len(found)} studies with a memorized.csv, not one",
            "name a finished study's working directory, and its dataset/arch after it when it holds several",
        )
    return found[0].parent.name, found[0].name


def _ensemble_facts(d: Path) -> dict[str, str]:
    out = {}
    for th_path in sorted(d.glob("*/thresholds.json")):
        e, th = th_path.parent.name, json.loads(th_path.read_text())
        fit = th.get("fit") or {}
        out |= {
            f"fit.{e}.train_acc": pct(fit.get("train_acc_mean")),
            f"fit.{e}.canary_acc_in": num(fit.get("canary_acc_in_mean")),
            f"fit.{e}.dead": pct(fit.get("dead_fraction")),
            f"fit.{e}.ok": "passed" if fit.get("ok") else "failed",
            f"{e}.natural_scored": count(th.get("n_natural_scored")),
            f"{e}.canaries": count(th.get("null_size")),
        }
        for definition, r in (th.get("regime") or {}).items():
            out |= {
                f"{e}.{definition}.tau": num(r.get("tau"), "{:.3g}"),
                f"{e}.{definition}.regime": str(r.get("kind")),
                f"{e}.{definition}.top_share": pct(r.get("top_share"), 0),
            }
        for rule, by_def in (th.get("rules") or {}).items():
            for definition, r in by_def.items():
                out[f"{e}.{rule}.{definition}.n"] = count(r.get("n_memorized"))
                out[f"{e}.{rule}.{definition}.share"] = pct(r.get("fraction_memorized"))
        fdr = d / e / "fdr.csv"
        if fdr.exists():
            f = read_csv(fdr)
            row = f[f["configured"]].iloc[0] if f["configured"].any() else f.iloc[-1]
            out |= {
                f"{e}.test.q": num(row["q"], "{:g}"),
                f"{e}.test.n": count(row["n_flagged"]),
                f"{e}.test.share": pct(row["share_flagged"]),
                f"{e}.test.power": pct(row["canary_power"], 0),
                f"{e}.test.calib_flagged_max": count(row["calib_flagged_max"]),
                f"{e}.test.calib_draws": count(row["calib_draws"]),
                f"{e}.test.calib_mixed_fdp": num(row["calib_mixed_fdp"], "{:.4f}"),
            }
    return out


def _memorized_facts(d: Path) -> dict[str, str]:
    """The all-fixes set (memorized.csv) against the reference's natural points, by class."""
    m = read_csv(d / "memorized.csv")
    flagged = m[m["null_memorized"]] if "null_memorized" in m else m
    scores = _reference_scores(d)
    natural = scores[scores["canary"] == 0] if scores is not None else None
    rows = []
    for label, g in flagged.groupby("label"):
        name = str(g["label_name"].iloc[0])
        total = int((natural["label"] == label).sum()) if natural is not None else None
        instead = g["predicted_instead_name"].astype(str).value_counts()
        top = ", ".join(f"{k} {v}" for k, v in instead.head(2).items())
        share = pct(len(g) / total) if total else "n/a"
        rows.append([name, count(len(g)), share, top])
    rows.sort(key=lambda r: -int(r[1].replace(",", "")))
    out = {
        "memorized.n": count(len(flagged)),
        "memorized.classes": table(
            ["class", "memorized", "share of its natural points", "held-out members predict instead"], rows
        ),
        "memorized.test_n": count(int(m["test_memorized"].sum())) if "test_memorized" in m else "n/a",
    }
    if natural is not None:
        out["memorized.share"] = pct(len(flagged) / len(natural))
        out["natural_points"] = count(len(natural))
        out["train_points"] = count(len(scores))
    return out


def _reference_scores(d: Path) -> pd.DataFrame | None:
    """The scores of the ensemble that chose memorized.csv (its provenance record names it)."""
    rec = Path(str(d / "memorized.csv") + ".prov.json")
    if rec.exists():
        for entry in json.loads(rec.read_text()).get("inputs", []):
            path = entry["path"]
            if path.endswith("/scores.csv"):
                p = d / Path(path).parent.name / "scores.csv"
                if p.exists():
                    return read_csv(p)[["label", "canary"]]
    return None


def _sampling_bias_facts(d: Path) -> dict[str, str]:
    """Each rate's mean |score - reference score| over all natural points, fz and frac (sampling_bias.csv)."""
    path = d / "sampling_bias.csv"
    if not path.exists():
        return {}
    t = read_csv(path)
    t = t[(t["against"] == "reference") & (t["points"] == "all") & t["definition"].isin(["fz", "frac"])]
    rows = [
        [
            f"{r['ensemble']} ({count(r['members'])} members)",
            str(r["definition"]),
            f"{num(r['mae'], '{:.3f}')} [{num(r['mae_lo'], '{:.3f}')}, {num(r['mae_hi'], '{:.3f}')}]",
            count(r["n_points"]),
        ]
        for _, r in t.sort_values(["definition", "rate"]).iterrows()
    ]
    header = ["ensemble", "definition", "mean absolute error against the reference [95 % interval]", "points"]
    out = {"sampling_bias": table(header, rows)}
    loo = read_csv(path)
    loo = loo[(loo["against"] == "loo") & loo["points"].isin(["random", "top"])]
    loo = loo[loo["definition"].isin(["fz", "frac"])]
    if len(loo):
        rows = [
            [f"{r['ensemble']} ({count(r['members'])} members)", str(r["definition"]), str(r["points"]),
             f"{num(r['mae'], '{:.3f}')} [{num(r['mae_lo'], '{:.3f}')}, {num(r['mae_hi'], '{:.3f}')}]",
             num(r["rmse_corrected"], "{:.3f}"), count(r["n_points"])]
            for _, r in loo.sort_values(["points", "definition", "rate"]).iterrows()
        ]  # fmt: skip
        header = ["ensemble", "definition", "points", "mean absolute error against leave-one-out [95 %]"]
        out["sampling_bias.loo"] = table([*header, "rmse, truth's noise out", "n"], rows)
    return out


def _table1(path: Path, dataset: str, arch: str) -> str:
    t = read_csv(path)
    t = t[(t["dataset"].str.split(".rep").str[0] == dataset) & (t["arch"] == arch)]
    rows = []
    for _, r in t.iterrows():
        rows.append(
            [
                str(r["replicate"]),
                r["setting"],
                count(r["n_removed"]),
                f"{num(r['score_pp'])} ± {num(r['std_pp'])} pp",
                f"[{num(r['ci_lo_pp'])}, {num(r['ci_hi_pp'])}]",
                pval(r["p_value"]),
                pval(r["p_seeds"]),
            ]
        )
    header = ["replicate", "setup", "removed", "memorized − random (± sd over seeds)"]
    return table(header + ["95 % interval, test-aware (pp)", "p, test-aware", "p, seeds only"], rows)


def _table3(path: Path, dataset: str, arch: str) -> str:
    t = read_csv(path)
    t = t[(t["dataset"].str.split(".rep").str[0] == dataset) & (t["arch"] == arch)]
    rows = [
        [
            str(r["replicate"]),
            str(r["control"]),
            str(r["test_set"]),
            count(r["n_removed"]),
            count(r["n_test"]),
            f"{num(r['diff_pp'])} ± {num(r['std_pp'])} pp",
            f"[{num(r['ci_lo_pp'])}, {num(r['ci_hi_pp'])}]",
            pval(r["p_value"]),
            pval(r["p_seeds"]),
        ]
        for _, r in t.iterrows()
    ]
    header = ["replicate", "control", "test set", "removed", "test points", "difference (± sd over seeds)"]
    return table(header + ["95 % interval, test-aware (pp)", "p, test-aware", "p, seeds only"], rows)


def _table3_facts(d: Path, root: Path, dataset: str, arch: str) -> dict[str, str]:
    out = {}
    t = read_csv(root / "results" / "table3.csv")
    t = t[(t["dataset"] == dataset) & (t["arch"] == arch)]
    for _, r in t.iterrows():
        key = f"table3.r{r['replicate']}.{r['control']}"
        out |= {
            f"{key}.diff": pp(r["diff_pp"]),
            f"{key}.ci": f"[{num(r['ci_lo_pp'])}, {num(r['ci_hi_pp'])}] pp",
            f"{key}.p": pval(r["p_value"]),
            f"{key}.p_seeds": pval(r["p_seeds"]),
            f"{key}.removed": count(r["n_removed"]),
            f"{key}.n_test": count(r["n_test"]),
        }
    classes = d / "table3_classes.csv"
    if classes.exists():
        c = read_csv(classes)
        rows = [
            [
                str(r["class_name"]),
                count(r["n_test"]),
                num(r["removed_memorized"], "{:.0f}"),
                f"{pp(r['diff_random_pp'])} [{num(r['ci_lo_random_pp'])}, {num(r['ci_hi_random_pp'])}]",
                pval(r["p_random"]),
                f"{pp(r['diff_class_matched_pp'])} "
                f"[{num(r['ci_lo_class_matched_pp'])}, {num(r['ci_hi_class_matched_pp'])}]",
                pval(r["p_class_matched"]),
            ]
            for _, r in c.iterrows()
        ]
        header = ["class", "test points", "removed (memorized)", "vs random", "p", "vs class-matched", "p"]
        out["table3.classes"] = table(header, rows)
    split = d / "table3_split.csv"
    if split.exists():
        s = read_csv(split)
        rows = [
            [
                str(r["test_set"]),
                str(r["part"]).replace("_", " "),
                count(r["n_test"]),
                pp(r["diff_pp"]),
                f"[{num(r['ci_lo_pp'])}, {num(r['ci_hi_pp'])}]",
                pval(r["p_value"]),
                pp(r["contribution_pp"]),
            ]
            for _, r in s.iterrows()
        ]
        header = [
            "test set",
            "part",
            "test points",
            "memorized − random",
            "95 % interval",
            "p",
            "share of total",
        ]
        out["table3.split"] = table(header, rows)
        out["split.influence_ensemble"] = str(s["influence_ensemble"].iloc[0])
        out["split.min_flaggable_infl"] = num(s["min_flaggable_infl"].iloc[0], "{:.3f}")
    return out


def _proxy_facts(d: Path) -> dict[str, str]:
    """proxies_validation.csv as a table per proxy (all proxy models; one model's fz rho and AUROC beside),
    its sizes and cost, and the proxy log's seconds (training, final measures)."""
    path = d / "proxies_validation.csv"
    if not path.exists():
        return {}
    t = pd.read_csv(path, dtype={"models": str})
    every, one = (t[t["models"] == m].set_index("proxy") for m in ("all", "1"))

    def rho(r, key) -> str:
        if pd.isna(r[f"spearman_{key}"]):
            return "n/a"
        return f"{num(r[f'spearman_{key}'])} [{num(r[f'spearman_{key}_lo'])}, {num(r[f'spearman_{key}_hi'])}]"

    rows = [
        [name, rho(r, "fz"), rho(r, "frac"), rho(r, "loo"), num(r["precision_at_k"]), num(r["auroc_canary"]),
         rho(one.loc[name], "fz"), num(one.loc[name, "auroc_canary"])]
        for name, r in every.iterrows()
    ]  # fmt: skip
    header = ["proxy", "ρ fz", "ρ frac", "ρ leave-one-out", "precision at k", "AUROC canaries"]
    out = {"proxies.table": table([*header, "ρ fz, 1 model", "AUROC, 1 model"], rows)}
    first, single = every.iloc[0], one.iloc[0]
    out |= {
        "proxies.n_natural": count(int(first["n_natural"])),
        "proxies.n_loo": count(int(first["n_loo"])),
        "proxies.k": count(int(first["k"])),
        "proxies.n_canary": count(int(first["n_canary"])),
        "proxies.cost_all": pct(first["cost_ratio"]),
        "proxies.cost_one": pct(single["cost_ratio"]),
        "proxies.reference_model_epochs": count(int(first["reference_model_epochs"])),
        "proxies.model_epochs": count(int(first["model_epochs"])),
    }
    log = d / "proxies" / "log.npz"
    if log.exists():
        with np.load(log) as z:
            out["proxies.models"] = count(len(z["seeds"]))
            out["proxies.train_s"] = num(float(z["train_seconds"]), "{:.1f}")
            out["proxies.measure_s"] = num(float(z["measure_seconds"]), "{:.1f}")
    return out


def _replicate_facts(root: Path, d: Path, dataset: str, arch: str) -> dict[str, str]:
    """With replicates: the sets' overlap (replicate_overlap.csv) and the files memorized in every one
    (memorized_replicates.csv), as one table and a list."""
    path = root / "results" / "replicate_overlap.csv"
    if not path.exists():
        return {}
    t = read_csv(path)
    t = t[(t["dataset"] == dataset) & (t["arch"] == arch)]
    rows = [
        [str(r["replicates"]), str(r["sizes"]).replace(";", ", "),
         f"{num(r['jaccard_mean'])} ({num(r['jaccard_min'])}–{num(r['jaccard_max'])})",
         count(r["n_any"]), count(r["n_majority"]), count(r["n_every"])]
        for _, r in t.iterrows()
    ]  # fmt: skip
    header = [
        "replicates",
        "set sizes",
        "Jaccard, mean (min–max) over pairs",
        "in any",
        "in most",
        "in every",
    ]
    out = {"replicates.overlap": table(header, rows)}
    per_file = d / "memorized_replicates.csv"
    if per_file.exists() and len(t):
        f = read_csv(per_file)
        every = f[f["replicates"] == int(t["replicates"].iloc[0])]
        names = [f"#{r['index']} ({r['label_name']})" for _, r in every.head(12).iterrows()]
        more = f", … ({len(every):,} in all: memorized_replicates.csv)" if len(every) > 12 else ""
        out["replicates.every"] = ", ".join(names) + more if names else "none"
    return out


def _strongest(pairs: pd.DataFrame, k: int = 8) -> pd.DataFrame:
    """The k strongest pairs by influence, then log-odds influence; ties in the table's order."""
    return pairs.sort_values(["infl", "infl_log_odds"], ascending=False, kind="stable").head(k)


def _replicate_job_facts(root: Path, dataset: str) -> dict[str, str]:
    """The further replicates' jobs from their benchmark files (logs/<dataset>.rep*/): a run stopped and
    resumed leaves no single GNU time report, but every job that finished left its file."""
    files = sorted(root.glob(f"logs/{dataset}.rep*/**/*.benchmark.tsv"))
    if not files:
        return {}
    b = pd.concat([pd.read_csv(f, sep="\t") for f in files])
    return {
        "replicates.jobs": count(len(files)),
        "replicates.job_min": num(b["s"].sum() / 60, "{:,.0f}"),
        "replicates.peak_rss_gib": num(b["max_rss"].max() / 1024, "{:.2f}"),
    }


def _influence_facts(d: Path) -> dict[str, str]:
    path = d / "influence.json"
    if not path.exists():
        return {}
    j = json.loads(path.read_text())
    out = {
        f"influence.{k}": (count(v) if isinstance(v, int) else num(v, "{:.3g}"))  # None: "n/a"
        for k, v in j.items()
        if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
    }
    out["influence.ensemble"] = str(j.get("ensemble"))
    cols = ["train_index", "train_label_name", "test_index", "test_label_name", "infl", "infl_lo", "infl_hi"]
    # chunk by chunk, keeping each chunk's strongest: at N = 60,000 the table has ~10^7 rows
    pairs = read_influence(d / "influence.csv", cols + ["infl_log_odds", "high", "memorized"], _strongest)
    out["influence.kept_rows"] = count(pairs.attrs["rows"])
    top = _strongest(pairs)
    rows = [
        [
            f"#{r['train_index']} ({r['train_label_name']})",
            f"#{r['test_index']} ({r['test_label_name']})",
            f"{num(r['infl'])} [{num(r['infl_lo'])}, {num(r['infl_hi'])}]",
            "yes" if r["high"] else "no",
            "yes" if r["memorized"] else "no",
        ]
        for _, r in top.iterrows()
    ]
    out["influence.strongest"] = table(
        ["training point", "test point", "influence [95 % interval]", "high", "memorized"], rows
    )
    dup = d / "influence_duplicates.csv"
    if dup.exists():
        t = read_csv(dup)
        rows = [
            [
                str(r["source"]),
                count(r["pairs"]),
                count(r["test_points"]),
                count(r["contested_test_points"]),
                count(r["found_test_point"]),
                num(r["median_infl"]),
            ]
            for _, r in t.iterrows()
        ]
        header = ["source", "pairs", "test points", "contested", "test points the other finds", "median infl"]
        out["influence.duplicates"] = table(header, rows)
    return out


# Rules whose jobs' time and memory the scale table reports: (label, rule, benchmark files under the run)
SCALE_RULES = (
    ("dataset index", "dataset_index", "logs/{d}/index.benchmark.tsv"),
    ("canaries", "canaries", "logs/{d}/canaries.benchmark.tsv"),
    ("duplicate detector", "duplicates", "logs/{d}/duplicates.benchmark.tsv"),
    ("members (per shard)", "members", "logs/{d}/{a}/*/members/*/*.benchmark.tsv"),
    ("scores (per ensemble)", "scores", "logs/{d}/{a}/*/scores.benchmark.tsv"),
    ("fit check (per ensemble)", "fitcheck", "logs/{d}/{a}/*/fitcheck.benchmark.tsv"),
    ("thresholds (per ensemble)", "thresholds", "logs/{d}/{a}/*/thresholds.benchmark.tsv"),
    ("test rule and its calibration (fdr)", "fdr", "logs/{d}/{a}/*/fdr.benchmark.tsv"),
    ("definitions", "definitions", "logs/{d}/{a}/definitions.benchmark.tsv"),
    ("sampling bias", "sampling_bias", "logs/{d}/{a}/sampling_bias.benchmark.tsv"),
    ("stability", "stability", "logs/{d}/{a}/stability.benchmark.tsv"),
    ("memorized set", "memorized", "logs/{d}/{a}/memorized.benchmark.tsv"),
    ("removal sets", "removal", "logs/{d}/{a}/removal/*.benchmark.tsv"),
    ("utility runs (per shard)", "utility_runs", "logs/{d}/{a}/utility/*/*/*.benchmark.tsv"),
    ("influence", "influence", "logs/{d}/{a}/influence.benchmark.tsv"),
    ("influence vs duplicates", "influence_duplicates", "logs/{d}/{a}/influence_duplicates.benchmark.tsv"),
    ("Table 3 split", "table3_split", "logs/{d}/{a}/table3_split.benchmark.tsv"),
    ("Table 1", "table1", "logs/table1.benchmark.tsv"),
    ("Table 3", "table3", "logs/table3.benchmark.tsv"),
    ("proxy models (training, curvature)", "proxy_log", "logs/{d}/{a}/proxies/log.benchmark.tsv"),
    ("proxies' validation", "proxies_validation", "logs/{d}/{a}/proxies_validation.benchmark.tsv"),
    ("memorized gallery", "fig_gallery", "logs/figures/gallery_{d}_{a}.benchmark.tsv"),
    ("summary", "summary", "logs/summary.benchmark.tsv"),
)


def planned_resources(root: Path) -> dict:
    """What the run's SLURM profile plans for each rule (profiles/slurm/config.yaml: mem_mb, runtime in
    minutes), the default for rules it does not name; {} without a profile."""
    import yaml

    path = root / "profiles" / "slurm" / "config.yaml"
    if not path.exists():
        return {}
    profile = yaml.safe_load(path.read_text())
    default = profile.get("default-resources", {})
    return {"default": default} | {k: {**default, **v} for k, v in profile.get("set-resources", {}).items()}


def _scale_facts(root: Path, dataset: str, arch: str) -> dict[str, str]:
    planned = planned_resources(root)
    rows, every = [], []
    for name, rule, pattern in SCALE_RULES:
        files = sorted(root.glob(pattern.format(d=dataset, a=arch)))
        if not files:
            continue
        b = pd.concat([pd.read_csv(f, sep="\t") for f in files])
        every.append(b)
        plan = planned.get(rule, planned.get("default", {}))
        within = "n/a"
        if plan:
            ok = b["s"].max() <= 60 * plan["runtime"] and b["max_rss"].max() <= plan["mem_mb"]
            within = f"{plan['runtime']} min, {plan['mem_mb']:,} MB: {'within' if ok else '**over**'}"
        rows.append(
            [
                name,
                count(len(files)),
                num(b["s"].max(), "{:.0f}"),
                num(b["s"].sum(), "{:.0f}"),
                num(b["max_rss"].max(), "{:,.0f}"),
                within,
            ]
        )
    header = ["job", "jobs", "longest (s)", "all (s)", "peak RSS (MB)", "planned per job (SLURM profile)"]
    out = {"scale": table(header, rows)}
    if every:
        b = pd.concat(every)
        out["peak_rss_gib"] = num(b["max_rss"].max() / 1024, "{:.2f}")
        out["job_seconds"] = num(b["s"].sum(), "{:,.0f}")
    return out


def _span_facts(root: Path) -> dict[str, str]:
    """The run's wall span: the earliest start to the latest end among its provenance records."""
    starts, ends = [], []
    for rec in (root / "results").rglob("*.prov.json"):
        r = json.loads(rec.read_text())
        if r.get("started") and r.get("ended"):
            starts.append(pd.Timestamp(r["started"]))
            ends.append(pd.Timestamp(r["ended"]))
    if not starts:
        return {}
    span = (max(ends) - min(starts)).total_seconds()
    return {"span_min": num(span / 60, "{:.0f}"), "started": str(min(starts).date())}


def _gnu_time_facts(text: str, prefix: str) -> dict[str, str]:
    """Invocations, total wall minutes and the largest peak RSS (GiB) of GNU time -v reports."""
    walls = [_seconds(w) for w in re.findall(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text)]
    rss = [int(k) for k in re.findall(r"Maximum resident set size \(kbytes\): (\d+)", text)]
    out = {}
    if walls:
        out[f"{prefix}.invocations"] = str(len(walls))
        out[f"{prefix}.total_min"] = num(sum(walls) / 60, "{:.0f}")
    if rss:
        out[f"{prefix}.max_rss_gib"] = num(max(rss) / 2**20, "{:.2f}")
    return out


def _seconds(clock: str) -> float:
    """GNU time's h:mm:ss or m:ss.ss in seconds."""
    parts = [float(p) for p in clock.split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


def _kept_logs(root: Path, stem: str, prefix: str):
    """(fact prefix, text) of logs/<stem>.txt, as `prefix`, and of every logs/<stem>_<name>.txt kept beside it
    (a later plan or a partial rerun's time, e.g. of the replicates), as `<stem>.<name>`."""
    for path in sorted((root / "logs").glob(f"{stem}*.txt")):
        named = prefix if path.stem == stem else f"{stem}.{path.stem.removeprefix(stem + '_')}"
        yield named, path.read_text()


def _logged_facts(root: Path) -> dict[str, str]:
    """What the run's own command lines printed, kept beside its logs: `memgen plan --replicates` before it
    started (logs/plan*.txt) and benchmarks/bare_loop.py on its machine (logs/bare_loop.txt)."""
    out = {}
    for prefix, text in _kept_logs(root, "plan", "plan"):
        for key, pattern in {
            "us_per_point_epoch": r"timed here: ([\d.]+) us per training point-epoch",
            "point_epochs_g": r"replicate 1: ([\d.]+) G point-epochs",
            "eta_min": r"replicate 1: .*?about (\d+) min",
            "further_min": r"each further replicate: .*?about (\d+) min",
            "all_min": r"R = \d+: about (\d+) min in all",
            "from_logs_min": r"~(\d+) min more for R = \d+",
            "further_members": r"R = \d+: \d+ further replicate\(s\), (\d+) members",
            "members": r"replicate 1 \(the study\): (\d+) score members",
            "utility_runs": r"replicate 1 \(the study\): \d+ score members, (\d+) utility runs",
        }.items():
            m = re.search(pattern, text)
            if m:
                out[f"{prefix}.{key}"] = m.group(1)
    # GNU time -v of each invocation of the study (a resumed run has several), and of a later partial rerun
    for prefix, text in _kept_logs(root, "time", "wall"):
        out |= _gnu_time_facts(text, prefix)
    bare = root / "logs" / "bare_loop.txt"
    if bare.exists():
        text = bare.read_text()
        m = re.search(r"bare loop, one model at a time \(\d+\):\s+([\d,]+) samples/s", text)
        if m:
            out["machine.bare_loop"] = m.group(1)
        m = re.search(r"memgen / bare: ([\d.]+)x", text)
        if m:
            out["machine.memgen_vs_bare"] = m.group(1)
    return out


def source_facts(root: str | Path, which: str | None = None) -> dict[str, str]:
    """Every fact one run's files offer, by name, as the page prints it."""
    root = Path(root)
    dataset, arch = study_dir(root, which)
    d = root / "results" / dataset / arch
    out = {"dataset": dataset, "arch": arch}
    out |= _ensemble_facts(d) | _memorized_facts(d) | _influence_facts(d) | _sampling_bias_facts(d)
    out |= _proxy_facts(d) | _replicate_facts(root, d, dataset, arch) | _replicate_job_facts(root, dataset)
    out["table1"] = _table1(root / "results" / "table1.csv", dataset, arch)
    out["table3"] = _table3(root / "results" / "table3.csv", dataset, arch)
    out |= _table3_facts(d, root, dataset, arch)
    out |= _scale_facts(root, dataset, arch) | _span_facts(root) | _logged_facts(root)
    return out


# ---- templates ----------------------------------------------------------------------
def parse(template: str) -> tuple[dict[str, str], str]:
    """(sources by name, the page's text) of a template."""
    head, sep, body = template.partition("\n---\n")
    if not sep:
        raise fail(
            "the template has no front matter ending in a '---' line",
            "begin it with 'source NAME: DIR' lines",
        )
    sources = {}
    for line in head.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = SOURCE.match(line.strip())
        if not m:
            raise fail(
                f"front matter line '{line}' is not 'source NAME: DIR'", "write each run as source NAME: DIR"
            )
        sources[m.group(1)] = m.group(2) + (f" {m.group(3)}/{m.group(4)}" if m.group(3) else "")
    return sources, body


def _sources(template_path: Path, overrides: dict[str, str] | None) -> tuple[dict[str, str], str]:
    sources, body = parse(template_path.read_text())
    for name, root in (overrides or {}).items():
        if name not in sources:
            raise fail(
                f"--source {name}: the template has no source {name}", f"use one of {', '.join(sources)}"
            )
        sources[name] = root + sources[name][len(sources[name].partition(" ")[0]) :]
    return sources, body


def all_facts(template_path: str | Path, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Every field a template may use: <source>.<fact>, with its value."""
    sources, _ = _sources(Path(template_path), overrides)
    facts = {}
    for name, spec in sources.items():
        root, _, which = spec.partition(" ")
        facts |= {f"{name}.{k}": v for k, v in source_facts(root, which or None).items()}
    return facts


def render(template_path: str | Path, overrides: dict[str, str] | None = None) -> str:
    """The page: the template's text with every field filled from its sources (overrides: NAME -> DIR)."""
    template_path = Path(template_path)
    sources, body = _sources(template_path, overrides)
    facts = all_facts(template_path, overrides)

    def fill(m: re.Match) -> str:
        key = m.group(1)
        if key not in facts:
            near = sorted(k for k in facts if k.split(".")[:2] == key.split(".")[:2])[:5]
            hint = f"; near: {', '.join(near)}" if near else ""
            raise fail(
                f"{template_path}: field {{{{ {key} }}}} is not a fact of its source",
                f"use one that is (memgen page {template_path} --list){hint}",
            )
        return facts[key]

    banner = BANNER.format(
        template=template_path, sources=", ".join(f"{k} = {v}" for k, v in sources.items())
    )
    return banner + "\n\n" + FIELD.sub(fill, body).rstrip() + "\n"


def check(template_path, page_path, overrides=None) -> list[str]:
    """Lines of the page that differ from what its run's files give now (empty: the page matches)."""
    import difflib

    want = render(template_path, overrides).splitlines()
    have = Path(page_path).read_text().splitlines() if Path(page_path).exists() else []
    return [
        line
        for line in difflib.unified_diff(have, want, str(page_path), "from the run's files", lineterm="", n=0)
    ]
