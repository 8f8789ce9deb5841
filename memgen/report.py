"""The report's first page (results/summary.rst): the study's answer in numbers, then the audit gallery.

Snakemake's HTML report opens on the workflow description; the Snakefile points it at this file once the
study has written it (rules/common.smk: report_page), so a reader sees, before any figure:
- Table 3's answer (accuracy after removing the memorized points vs as many random ones) and Table 1's
  ablation rows (how each fix moves the score);
- per dataset and architecture, τ and the memorized counts of the ensemble the answer rests on (ties counted,
  and the strict reading's), what a set resting on a tie at τ is, the regime line from what each
  definition's null does, and the members' fit check;
- the gallery of the most memorized images (embedded, so the page stands alone);
- in the full study, leakage seen two ways: the strongest influence pairs, how many of them the duplicate
  detector finds (and the reverse), Table 3 split by high-influence memorized partner, the pairs gallery.
Every number is read from an artifact listed as the rule's input; nothing is recomputed here.
"""

import base64
import math
from pathlib import Path

import pandas as pd

from memgen.io import load_json
from memgen.utility.replicates import COMBINED, conclusion
from memgen.utility.variants import LABELS


def _num(x, fmt="{:.2f}") -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(x) else fmt.format(x)


def _p(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "n/a"
    return "n/a" if math.isnan(x) else (f"{x:.2g}" if x >= 1e-3 else f"{x:.1e}")


def _cell(text) -> str:
    """A table cell's text; a leading "+ " would make it a bullet list ("+ Fractional difference")."""
    text = str(text or " ")
    return "\\" + text if text[:1] in "+-*" and text[1:2] == " " else text


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """An rst list-table (docutils renders it as an HTML table)."""
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        out.append("   * - " + _cell(row[0]))
        out += [f"     - {_cell(cell)}" for cell in row[1:]]
    return [*out, ""]


def _heading(text: str, char: str) -> list[str]:
    return [text, char * max(len(text), 3), ""]


def _acc_in_line(acc_in: dict) -> str:
    mean = acc_in.get("mean") if acc_in else None
    if mean is None:
        return "no canary was trained on"
    quartiles = "/".join(_num(acc_in.get(k)) for k in ("q25", "median", "q75"))
    return f"canaries' acc_in mean {mean:.2f} (quartiles {quartiles})"


def _pct(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{100 * float(x):.0f} %"


def _regime_part(kind: str, definitions: list[str], by_definition: dict) -> str:
    """The regime of the definitions whose nulls do the same (`kind`, thresholds.null_regime)."""
    names = ", ".join(definitions)
    top = ", ".join(f"{d} {_pct(by_definition[d].get('top_share'))}" for d in definitions)
    if kind == "saturated":
        return (
            f"{names}: the null is saturated ({top} of canaries score the top 1), so τ = 1 and the memorized "
            "set is only the natural points tied with those canaries: not the paper's regime"
        )
    if kind == "partly":
        return (
            f"{names}: canaries partly fit ({top} of canaries at the top score 1): the paper's regime, where "
            "the null separates memorization"
        )
    if kind == "low":
        flagged = ", ".join(f"{d} {_pct(by_definition[d].get('flagged_share'))}" for d in definitions)
        return (
            f"{names}: the null sits barely above 0 (its τ would flag {flagged} of the natural points): "
            "the memorized set is undefined"
        )
    if kind == "at_zero":
        return (
            f"{names}: members fit (almost) no canary: the null sits at 0 and the memorized set is undefined"
        )
    return f"{names}: no canary is scored: the null is undefined"


def regime(th: dict) -> str:
    """One line: which regime each definition's null puts the run in, decided by what the null does (its τ
    and the share of canaries at the top score, thresholds.json `regime`), not by the canaries' mean acc_in
    (docs/configuration.md: the regime)."""
    head = _acc_in_line(th.get("canary_acc_in") or {})
    by_definition = th.get("regime")
    if not by_definition:
        return f"{head}; regime unknown: this thresholds.json predates `regime` (rerun the thresholds rule)"
    groups: dict[str, list[str]] = {}
    for definition, r in by_definition.items():
        groups.setdefault(r.get("kind", "empty"), []).append(definition)
    return f"{head}. " + "; ".join(_regime_part(k, defs, by_definition) for k, defs in groups.items())


def _fit_line(fit) -> str | None:
    """The members' fit check (thresholds.json's `fit`, memgen.scores.fitcheck) as one line."""
    if not fit:
        return None
    measured = []
    if fit.get("train_acc_mean") is not None:
        measured.append(f"members fit {100 * fit['train_acc_mean']:.1f} % of their own training points")
    if fit.get("dead_fraction") is not None:
        measured.append(f"{100 * fit['dead_fraction']:.0f} % of hidden units dead")
    if fit.get("canary_acc_in_mean") is not None:
        measured.append(f"canaries' acc_in {fit['canary_acc_in_mean']:.2f}")
    if fit.get("ok"):
        return "members' fit check passed: " + ", ".join(measured) + "."
    return f"members' fit check FAILED ({', '.join(measured)}): {fit.get('reason') or fit.get('fix') or ''}"


def _image(path: Path, width: str = "100%", alt: str = "the most memorized training images") -> list[str]:
    # docutils rejects lines over 10,000 characters and joins a split image URI without its whitespace
    data = base64.b64encode(Path(path).read_bytes()).decode()
    chunks = [data[i : i + 76] for i in range(0, len(data), 76)]
    return [
        ".. image:: data:image/png;base64,",
        *(f"   {c}" for c in chunks),
        f"   :width: {width}",
        f"   :alt: {alt}",
        "",
    ]


def _text(x) -> str:
    """A table's text cell; an empty one (read as NaN) stays empty."""
    return "" if pd.isna(x) else str(x)


def _count(x) -> str:
    if pd.isna(x):
        return "n/a"
    return f"{int(x)}" if float(x) == int(float(x)) else f"{float(x):.1f}"


def _replicates(t: pd.DataFrame) -> bool:
    return "replicate" in t.columns and (t["replicate"].astype(str) == COMBINED).any()


def _across(t3: pd.DataFrame) -> list[str]:
    """Per dataset x arch with replicates: the combined answer in a sentence, and a warning when the
    replicates disagree in sign or significance."""
    lines = []
    for (dataset, arch), g in t3.groupby(["dataset", "arch"], sort=False):
        each = g[g["replicate"].astype(str) != COMBINED]
        both = g[g["replicate"].astype(str) == COMBINED]
        if both.empty:
            continue
        c = both.iloc[0]
        said = conclusion(float(c["diff_pp"]), float(c["p_value"]))
        change = f"{_num(c['diff_pp'], '{:+.2f}')} ± {_num(c['std_pp'])} pp"
        lines += [
            f"**{dataset} / {arch}, {len(each)} replicates:** removing the memorized points changes accuracy "
            f"by {change} (mean ± std between replicates; t-test with the replicate as unit, p = "
            f"{_p(c['p_value'])}): {said}; each replicate's own test agrees in {c['holds']}.",
            "",
        ]
        verdicts = {}
        for _, r in each.iterrows():
            verdicts.setdefault(conclusion(float(r["diff_pp"]), float(r["p_value"])), []).append(
                str(r["replicate"])
            )
        signs = {math.copysign(1, float(x)) for x in each["diff_pp"] if pd.notna(x) and float(x) != 0}
        if len(verdicts) > 1 or len(signs) > 1:
            words = "; ".join(
                f"replicate{'s' if len(v) > 1 else ''} {', '.join(v)}: {k}" for k, v in verdicts.items()
            )
            how = " and ".join(
                w for w, yes in (("in sign", len(signs) > 1), ("in significance", len(verdicts) > 1)) if yes
            )
            lines += [
                f"**Warning: the replicates disagree** ({how}): {words}. One draw of canaries, masks and "
                "members does not settle this answer; read the combined row.",
                "",
            ]
        elif len(verdicts) == 1 and said != next(iter(verdicts)):
            lines += [
                f"Every replicate alone says {next(iter(verdicts))}, but their differences vary too much for "
                f"the test over {len(each)} replicates (df = {len(each) - 1}) to confirm it: more replicates "
                "would tell.",
                "",
            ]
    return lines


def _answer(t3: pd.DataFrame) -> list[str]:
    """Table 3 (the answer): accuracy with the memorized points removed vs as many random ones; with
    replicates, the combined answer first."""
    lines = _heading("The answer (Table 3)", "-")
    several = _replicates(t3)
    if several:
        lines += _across(t3)
    rows = []
    for _, r in t3.iterrows():
        sig = "yes" if str(r.get("significant_0.05")).lower() == "true" else "no"
        rows.append(
            [
                f"{r['dataset']} / {r['arch']}",
                *([str(r["replicate"])] if several else []),
                str(r["test_set"]),
                f"{_num(r['acc_memorized_removed'])} %",
                f"{_num(r['acc_random_removed'])} %",
                f"{_num(r['diff_pp'], '{:+.2f}')} ± {_num(r['std_pp'])} pp",
                f"{_p(r['p_value'])} ({sig})",
                _count(r["n_removed"]),
                str(r["note"]) if pd.notna(r.get("note")) else "",
            ]
        )
    return lines + _table(
        ["dataset / arch", *(["replicate"] if several else []), "test set", "acc., memorized removed",
         "acc., random removed", "difference", "p (significant at 0.05)", "points removed", "note"],
        rows,
    )  # fmt: skip


def _ablation(t1: pd.DataFrame) -> list[str]:
    """Table 1 (the ablation): each setup's score and its change from the original setup."""
    lines = _heading("The ablation (Table 1)", "-")
    lines += [
        "Score: accuracy difference (memorized removed minus random removed, pp) of each setup; Δ: its "
        "change from the original (Feldman & Zhang) setup.",
        "",
    ]
    if _replicates(t1):  # the combined rows; each replicate's are in table1.csv
        t1 = t1[t1["replicate"].astype(str) == COMBINED]
        lines += [
            "Over replicates: mean ± std between replicates; p from a t-test with the replicate as unit.",
            "",
        ]
    rows = [
        [
            f"{r['dataset']} / {r['arch']}",
            LABELS.get(r["variant"], r["variant"]),
            f"{_num(r['score_pp'], '{:+.2f}')} ± {_num(r['std_pp'])}",
            _p(r["p_value"]),
            _num(r["delta_pp"], "{:+.2f}"),
            _p(r["delta_p_value"]),
            _count(r["n_removed"]),
        ]
        for _, r in t1.iterrows()
    ]
    return lines + _table(
        ["dataset / arch", "setup", "score (pp)", "p", "Δ (pp)", "p of Δ", "points removed"], rows
    )


def _mark(text, notes: list[str]) -> str:
    """ " [k]" of `text` among the page's footnotes (added when new); "" without a text."""
    if not text:
        return ""
    if text not in notes:
        notes.append(text)
    return f" [{notes.index(text) + 1}]"


def _memorized_table(th: dict) -> list[str]:
    """τ, the memorized count (ties at τ counted) and the strict reading's (score > τ) of each rule and
    definition; each distinct note (why a set is empty or undefined, what a set's tie is) once, as a
    footnote."""
    rows, notes = [], []
    for rule in ("null", "fixed"):
        for definition, r in th.get("rules", {}).get(rule, {}).items():
            n = r.get("n_memorized")
            count = "undefined" if n is None or r.get("undefined") else f"{n}"
            if n is not None and r.get("fraction_memorized") is not None:
                count += f" ({100 * r['fraction_memorized']:.1f} %)"
            count += _mark(r.get("note"), notes) + _mark((r.get("tau_ties") or {}).get("text"), notes)
            strict = r.get("n_memorized_strict")
            strict = "n/a" if n is None or strict is None else f"{strict}"
            rows.append([f"{rule} rule", definition, _num(r.get("tau"), "{:.3g}"), count, strict])
    header = ["threshold", "definition", "τ", "memorized (natural points, score ≥ τ)", "strict (score > τ)"]
    lines = _table(header, rows)
    for k, note in enumerate(notes, 1):
        lines += [f"[{k}] {note}", ""]
    return lines


def _pair(dataset: str, arch: str, paths: dict) -> list[str]:
    """One dataset and architecture: the memorized set, the regime, the fit check and the gallery."""
    th = load_json(paths["thresholds"])
    lines = _heading(f"{dataset} / {arch}: the memorized set", "-")
    lines += [f"Ensemble {th.get('ensemble', '?')} ({th.get('null_size', 0)} canaries in the null, "
              f"{th.get('n_natural_scored', 0)} natural points scored).", ""]  # fmt: skip
    lines += _memorized_table(th)
    lines += [f"**Regime:** {regime(th)}.", ""]
    fit = th.get("fit") or th.get("recipe_check") or th.get("fitcheck")
    if fit is None and paths.get("fit"):
        fit = load_json(paths["fit"]) if Path(paths["fit"]).exists() else None
    line = _fit_line(fit)
    if line:
        lines += [f"**Recipe:** {line}", ""]
    if paths.get("gallery") and Path(paths["gallery"]).exists():
        lines += _heading(f"{dataset} / {arch}: the most memorized images", "~")
        lines += _image(paths["gallery"])
    return lines


LEAKAGE_KEYS = ("influence", "influence_duplicates", "table3_split", "influence_gallery")
PART_WORDS = {
    "all": "all",
    "with_partner": "with a high-influence memorized partner",
    "without_partner": "without one",
}


def _strongest_pairs(path, n: int = 5) -> list[str]:
    """The n strongest high-influence pairs of influence.csv, one row each."""
    from memgen.influence.jobs import read_influence

    df = read_influence(path)
    hi = df[df["high"]].sort_values(["infl", "se"], ascending=[False, True])
    if hi.empty:
        return [f"No high-influence pair among the {len(df)} kept pairs.", ""]

    def name(file, split, i) -> str:
        return file or f"{split} #{i}"  # read_influence reads a missing file as ""

    rows = [
        [
            f"{name(r['train_file'], 'train', r['train_index'])} ({r['train_label_name']})",
            f"{name(r['test_file'], 'test', r['test_index'])} ({r['test_label_name']})",
            f"{r['infl']:.2f} ± {r['se']:.2f}",
            _p(r["p_adjusted"]),
            "yes" if r["memorized"] else "no",
        ]
        for _, r in hi.head(n).iterrows()
    ]
    head = [f"{len(hi)} high-influence pairs of {len(df)} kept; the strongest:", ""]
    return head + _table(
        ["training point", "test point it lifts", "infl ± se", "p (Bonferroni)", "memorized"], rows
    )


def _leakage(dataset: str, arch: str, paths: dict) -> list[str]:
    """Influence pairs against the duplicate detector, and Table 3 split by high-influence partner."""
    if not all(paths.get(k) and Path(paths[k]).exists() for k in LEAKAGE_KEYS):
        return []
    lines = _heading(f"{dataset} / {arch}: leakage seen two ways", "-")
    lines += _strongest_pairs(paths["influence"])
    dup = pd.read_csv(paths["influence_duplicates"], keep_default_na=False, na_values=[""])
    rows = [
        [r["source"], str(r["pairs"]), str(r["test_points"]),
         f"{r['found_pair']} ({_pct(r['found_pair_share'])})",
         f"{r['found_test_point']} ({_pct(r['found_test_point_share'])})", _text(r["note"])]
        for _, r in dup.iterrows()
    ]  # fmt: skip
    lines += _table(
        ["source", "pairs", "test points", "same pair in the other", "same test point", "note"], rows
    )
    split = pd.read_csv(paths["table3_split"], keep_default_na=False, na_values=[""])
    lines += [f"Table 3 ({split['variant'].iloc[0]}) split by partner: memorized-vs-random difference.", ""]
    rows = [
        [str(r["test_set"]), PART_WORDS.get(r["part"], r["part"]), str(r["n_test"]),
         f"{_num(r['diff_pp'], '{:+.2f}')} ± {_num(r['std_pp'])} pp", _p(r["p_value"]), _text(r["note"])]
        for _, r in split.iterrows()
    ]  # fmt: skip
    lines += _table(["test set", "test points", "n", "difference", "p", "note"], rows)
    lines += _heading(f"{dataset} / {arch}: the strongest influence pairs", "~")
    return lines + _image(paths["influence_gallery"], alt="the strongest influence pairs")


def summary_rst(table1_path, table3_path, pairs: dict) -> str:
    """pairs: {(dataset, arch): {"thresholds": path, "gallery": png path, "fit": path or None}}. A table
    path is None where the config's `scope` does not build it (an audit: no Table 1; `--no-utility`: no
    Table 3)."""
    t1 = pd.read_csv(table1_path) if table1_path else None
    t3 = pd.read_csv(table3_path) if table3_path else None
    lines = _heading("memgen: what this study found", "=")
    lines += [
        "Does a classifier need the training points it memorizes? Memorized points are found with the "
        "paper's four fixes (high sampling rate, fractional difference, a null threshold from canaries, a "
        "leakage-free test set), removed, and the model retrained; the same number of random points are "
        "removed for comparison. A positive difference means accuracy went **up** without the memorized "
        "points.",
        "",
    ]
    lines += _answer(t3) if t3 is not None else _not_built("Table 3 (memorized vs random removal)", "answer")
    lines += (
        _ablation(t1) if t1 is not None else _not_built("Table 1 (the ablation of the four fixes)", "full")
    )
    for (dataset, arch), paths in sorted(pairs.items()):
        lines += _pair(dataset, arch, paths)
        lines += _leakage(dataset, arch, paths)
    lines += [
        "Every table and figure is in the sections on the left; each file's provenance: "
        "``python -m memgen trace <file>``.",
        "",
    ]
    text = "\n".join(lines)
    return text.replace("{{", "{ {").replace("{%", "{ %")  # the report renders this page with Jinja


def _not_built(what: str, scope: str) -> list[str]:
    return [
        f"{what} was not built: this run's config has a narrower `scope` (``scope: {scope}`` builds it; "
        "``memgen audit --full`` runs the paper's whole study).",
        "",
    ]


def write_summary(table1_path, table3_path, pairs: dict, out: str) -> None:
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(out) + ".tmp")
    tmp.write_text(summary_rst(table1_path, table3_path, pairs))
    tmp.replace(out)


def pairs_from_inputs(inputs: dict, pairs: list) -> dict:
    """{(dataset, arch): {"thresholds": ..., "gallery": ...}} from the rule's named inputs
    thresholds_<i>, gallery_<i>, where pair i is pairs[i] = [dataset, arch]."""
    out = {}
    for i, (dataset, arch) in enumerate(pairs):
        out[(dataset, arch)] = {
            k: inputs[f"{k}_{i}"] for k in ("thresholds", "gallery", *LEAKAGE_KEYS) if f"{k}_{i}" in inputs
        }
    return out
