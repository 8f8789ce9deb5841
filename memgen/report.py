"""The report's first page (results/summary.rst): the study's answer in numbers, then the audit gallery.

Snakemake's HTML report opens on the workflow description; the Snakefile points it at this file once the
study has written it (rules/common.smk: report_page), so a reader sees, before any figure:
- Table 3's answer (accuracy after removing the memorized points vs as many random ones, and vs as many
  random ones of each class) and Table 1's ablation rows (how each fix moves the score);
- per dataset and architecture, τ and the memorized counts of the ensemble the answer rests on (ties counted,
  and the strict reading's), the test rule's count beside Eq. 3's (what each answers, and the test's power
  on the canaries), what a set resting on a tie at τ is, the regime line from what each
  definition's null does, and the members' fit check; Table 3 per class in a few lines;
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
from memgen.paths import TABLE3_CLASSES
from memgen.scores.compute import CONFIDENCE_DEFINITIONS
from memgen.scores.thresholds import TOP_EPSILON
from memgen.utility.replicates import COMBINED, conclusion
from memgen.variants import LABELS


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


def rst_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """An rst list-table (docutils renders it as an HTML table)."""
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        out.append("   * - " + _cell(row[0]))
        out += [f"     - {_cell(cell)}" for cell in row[1:]]
    return [*out, ""]


def heading(text: str, char: str) -> list[str]:
    return [text, char * max(len(text), 3), ""]


def _acc_in_line(acc_in: dict) -> str:
    mean = acc_in.get("mean") if acc_in else None
    if mean is None:
        return "no canary was trained on"
    quartiles = "/".join(_num(acc_in.get(k)) for k in ("q25", "median", "q75"))
    return f"canaries' acc_in mean {mean:.2f} (quartiles {quartiles})"


def _pct(x) -> str:
    return "n/a" if x is None or pd.isna(x) else f"{100 * float(x):.0f} %"


def _steps(definitions: list[str]) -> str:
    """What one step below the top is for these definitions (thresholds.at_top)."""
    counts = [d for d in definitions if d not in CONFIDENCE_DEFINITIONS]
    continuous = [d for d in definitions if d in CONFIDENCE_DEFINITIONS]
    parts = [f"one held-out member right for {', '.join(counts)}"] if counts else []
    parts += [f"{TOP_EPSILON:g} for {', '.join(continuous)}"] if continuous else []
    return " and ".join(parts)


def _regime_part(kind: str, definitions: list[str], by_definition: dict) -> str:
    """The regime of the definitions whose nulls do the same (`kind`, thresholds.null_regime)."""
    names = ", ".join(definitions)
    top = ", ".join(f"{d} {_pct(by_definition[d].get('top_share'))}" for d in definitions)
    top += f" of canaries within one step of the top score 1, a step being {_steps(definitions)}"
    if kind == "saturated":
        taus = ", ".join(f"{d} {_num(by_definition[d].get('tau'), '{:.7g}')}" for d in definitions)
        return (
            f"{names}: the null is saturated ({top}; τ {taus}), so τ sits at the top and the memorized set "
            "is only the natural points as extreme as those canaries: not the paper's regime"
        )
    if kind == "partly":
        return (
            f"{names}: canaries partly fit ({top}): the paper's regime, where the null separates memorization"
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


def rst_image(path: Path, width: str = "100%", alt: str = "the most memorized training images") -> list[str]:
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


CONTROL_WORDS = {
    "random": "as many random points (the paper's control)",
    "class_matched": "as many random points of each class (class-matched control)",
}


def _control(r) -> str:
    """A Table 3 row's control; a table written before controls had one is the paper's uniform draw."""
    c = r.get("control") if hasattr(r, "get") else None
    return "random" if c is None or pd.isna(c) else str(c)


def _interval(lo, hi) -> str:
    return "n/a" if pd.isna(lo) or pd.isna(hi) else f"[{_num(lo, '{:+.2f}')}, {_num(hi, '{:+.2f}')}]"


def _disagreement(each: pd.DataFrame, said: str) -> list[str]:
    """A warning when the replicates disagree in sign or significance, or a line when they agree but the
    test over replicates cannot confirm them."""
    verdicts: dict[str, list[str]] = {}
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
        return [
            f"**Warning: the replicates disagree** ({how}): {words}. One draw of canaries, masks and "
            "members does not settle this answer; read the combined row.",
            "",
        ]
    if len(verdicts) == 1 and said != next(iter(verdicts)):
        return [
            f"Every replicate alone says {next(iter(verdicts))}, but their differences vary too much for "
            f"the test over {len(each)} replicates (df = {len(each) - 1}) to confirm it: more replicates "
            "would tell.",
            "",
        ]
    return []


def _across(t3: pd.DataFrame) -> list[str]:
    """Per dataset x arch (and control) with replicates: the combined answer in a sentence, and a warning when
    the replicates disagree in sign or significance."""
    lines = []
    t3 = t3.assign(control=[_control(r) for _, r in t3.iterrows()])
    for (dataset, arch, control), g in t3.groupby(["dataset", "arch", "control"], sort=False):
        each = g[g["replicate"].astype(str) != COMBINED]
        both = g[g["replicate"].astype(str) == COMBINED]
        if both.empty:
            continue
        c = both.iloc[0]
        said = conclusion(float(c["diff_pp"]), float(c["p_value"]))
        change = f"{_num(c['diff_pp'], '{:+.2f}')} ± {_num(c['std_pp'])} pp"
        against = "" if control == "random" else ", against the class-matched control"
        lines += [
            f"**{dataset} / {arch}, {len(each)} replicates{against}:** removing the memorized points changes "
            f"accuracy by {change} (mean ± std between replicates; t-test with the replicate as unit, the "
            f"test set fixed, p = {_p(c['p_value'])}): {said}; each replicate's own test agrees in "
            f"{c['holds']}.",
            "",
        ]
        lines += _disagreement(each, said)
    return lines


def _answer(t3: pd.DataFrame) -> list[str]:
    """Table 3 (the answer): accuracy with the memorized points removed vs each control; with replicates, the
    combined answer first."""
    lines = heading("The answer (Table 3)", "-")
    lines += [
        "Two controls: **random**, as many training points drawn at random (the paper's question as posed: "
        "do the memorized points matter more than as many random ones?), and **class_matched**, as many "
        "random points of each class as the memorized set holds (do the memorized points matter beyond "
        "their class's size?). p and the 95 % interval count seeds and test points as random draws; "
        "p (seeds) holds the test set fixed, as the paper's test does.",
        "",
    ]
    several = _replicates(t3)
    if several:
        lines += _across(t3)
    rows = []
    for _, r in t3.iterrows():
        sig = "yes" if str(r.get("significant_0.05")).lower() == "true" else "no"
        control = r.get("acc_control_removed", r.get("acc_random_removed"))
        rows.append(
            [
                f"{r['dataset']} / {r['arch']}",
                *([str(r["replicate"])] if several else []),
                _control(r),
                str(r["test_set"]),
                f"{_num(r['acc_memorized_removed'])} %",
                f"{_num(control)} %",
                f"{_num(r['diff_pp'], '{:+.2f}')} ± {_num(r['std_pp'])} pp",
                _interval(r.get("ci_lo_pp"), r.get("ci_hi_pp")),
                f"{_p(r['p_value'])} ({sig})",
                _p(r.get("p_seeds")),
                _count(r["n_removed"]),
                str(r["note"]) if pd.notna(r.get("note")) else "",
            ]
        )
    return lines + rst_table(
        ["dataset / arch", *(["replicate"] if several else []), "control", "test set",
         "acc., memorized removed", "acc., control removed", "difference ± std (seeds)", "95 % interval",
         "p (significant at 0.05)", "p (seeds)", "points removed", "note"],
        rows,
    )  # fmt: skip


def _setup(r) -> str:
    label = LABELS.get(r["variant"], r["variant"])
    return label + (" (evaluation-only)" if str(r.get("evaluation_only")).lower() == "true" else "")


def _ablation(t1: pd.DataFrame) -> list[str]:
    """Table 1 (the ablation): each setup's score and its change from the original setup."""
    lines = heading("The ablation (Table 1)", "-")
    lines += [
        "Score: accuracy difference (memorized removed minus as many random points removed, the paper's "
        "control, pp) of each setup, its 95 % interval and p counting seeds and test points as random, and "
        "p (seeds) with the test set fixed; Δ: its change from the original (Feldman & Zhang) setup, paired "
        "by seed. An evaluation-only setup reuses the original setup's runs on fewer test points: its Δ is "
        "tested over test points (are the dropped points different from the rest?), with no seed test.",
        "",
    ]
    if _replicates(t1):  # the combined rows; each replicate's are in table1.csv
        t1 = t1[t1["replicate"].astype(str) == COMBINED]
        lines += [
            "Over replicates: mean ± std between replicates; p from a t-test with the replicate as unit (the "
            "test set fixed); an evaluation-only Δ gets no t-test over replicates.",
            "",
        ]
    rows = [
        [
            f"{r['dataset']} / {r['arch']}",
            _setup(r),
            f"{_num(r['score_pp'], '{:+.2f}')} ± {_num(r['std_pp'])}",
            _interval(r.get("ci_lo_pp"), r.get("ci_hi_pp")),
            _p(r["p_value"]),
            _p(r.get("p_seeds")),
            _num(r["delta_pp"], "{:+.2f}"),
            _interval(r.get("delta_ci_lo_pp"), r.get("delta_ci_hi_pp")),
            _p(r["delta_p_value"]),
            _count(r["n_removed"]),
        ]
        for _, r in t1.iterrows()
    ]
    return lines + rst_table(
        ["dataset / arch", "setup", "score (pp)", "95 % interval", "p", "p (seeds)", "Δ (pp)",
         "Δ 95 % interval", "p of Δ", "points removed"],
        rows,
    )  # fmt: skip


def _classes(dataset: str, arch: str, path) -> list[str]:
    """Table 3 per class in a few lines: where memorized − each control's interval excludes 0, and the class
    that loses most against the paper's control, with how many of its points each removal takes."""
    if not path or not Path(path).exists():
        return []
    t = pd.read_csv(path, keep_default_na=False, na_values=[""])
    t = t[t["diff_random_pp"].notna()] if "diff_random_pp" in t.columns else t.iloc[:0]
    if t.empty:
        return []
    lines = heading(f"{dataset} / {arch}: Table 3 per class", "~")
    for control, words in CONTROL_WORDS.items():
        lo, hi = t[f"ci_lo_{control}_pp"], t[f"ci_hi_{control}_pp"]
        below, above = int((hi < 0).sum()), int((lo > 0).sum())
        lines += [
            f"Against {words}: {below} of {len(t)} classes lose accuracy (95 % interval below 0), {above} "
            "gain (unadjusted for the number of classes).",
            "",
        ]
    w = t.loc[t["diff_random_pp"].idxmin()]
    lines += [
        f"Largest loss against the paper's control: class {w['class_name']} "
        f"({_num(w['diff_random_pp'], '{:+.2f}')} pp "
        f"{_interval(w['ci_lo_random_pp'], w['ci_hi_random_pp'])}; "
        f"{_count(w['removed_memorized'])} of its training points removed as memorized vs "
        f"{_count(w['removed_random'])} at random); against the class-matched control "
        f"{_num(w['diff_class_matched_pp'], '{:+.2f}')} pp "
        f"{_interval(w['ci_lo_class_matched_pp'], w['ci_hi_class_matched_pp'])}. Per class: "
        f"{TABLE3_CLASSES.format(dataset=dataset, arch=arch)}.",
        "",
    ]
    return lines


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
            rows.append(
                [f"{rule} rule", definition, _num(r.get("tau"), "{:.3g}"), count, strict, _fragile(r)]
            )
    rows += [row + ["n/a"] for row in _test_row(th, notes)]
    header = ["threshold", "definition", "τ", "memorized (natural points, score ≥ τ)", "strict (score > τ)"]
    header += ["one held-out member from τ (leave / enter)"]
    lines = rst_table(header, rows)
    for k, note in enumerate(notes, 1):
        lines += [f"[{k}] {note}", ""]
    return lines


def _fragile(r: dict) -> str:
    """How many points of the set one held-out member right would drop below τ, and outside it one wrong
    would lift to τ (memgen/scores/fragility.py): the part of the set a last-bit difference can move."""
    f = r.get("fragile")
    return "n/a" if not f or r.get("n_memorized") is None else f"{f['leave']} / {f['enter']}"


def _test_row(th: dict, notes: list[str]) -> list[list[str]]:
    """The test rule's row (memgen.scores.fdr): one set under fz and frac, cut at a p-value, not a τ."""
    r = (th.get("rules", {}).get("test") or {}).get("frac")
    if not r:
        return []
    n = r.get("n_memorized")
    count = "undefined" if n is None else f"{n}"
    if n is not None and r.get("fraction_memorized") is not None:
        count += f" ({100 * r['fraction_memorized']:.1f} %)"
    cut = "n/a" if r.get("p_cut") is None else f"p ≤ {_p(r['p_cut'])}"
    return [[f"test rule (BH, q = {r['q']:g})", "fz, frac", cut, count + _mark(r.get("note"), notes), "n/a"]]


def test_rule_lines(th: dict) -> list[str]:
    """What each threshold rule answers, with the test rule's count and its power on the canaries."""
    r = (th.get("rules", {}).get("test") or {}).get("frac")
    if not r:
        return []
    null = th.get("rules", {}).get("null", {})
    eq3 = ", ".join(
        f"{d} {'undefined' if (null.get(d) or {}).get('n_memorized') is None else null[d]['n_memorized']}"
        for d in ("fz", "frac")
    )
    n = "undefined" if r.get("n_memorized") is None else str(r["n_memorized"])
    text = (
        f"**Two threshold rules, two questions.** Eq. 3 (the null rule; {eq3} points) answers how memorized "
        f"a point must look to match the canaries. The test rule ({n} points) answers which points' "
        f"in-members beat their held-out members, with at most {100 * r['q']:g} % of the flagged expected "
        "to be false (one-sided Fisher's exact test, Benjamini–Hochberg)"
    )
    if r.get("canary_power") is not None:
        text += f"; it flags {_pct(r['canary_power'])} of the scored canaries (its power)"
    if r.get("n_in_null_set") is not None:
        text += f", and {r['n_in_null_set']} of its points are in Eq. 3's frac set"
    return [text + ".", ""]


def _pair(dataset: str, arch: str, paths: dict) -> list[str]:
    """One dataset and architecture: the memorized set, the regime, the fit check and the gallery."""
    th = load_json(paths["thresholds"])
    lines = heading(f"{dataset} / {arch}: the memorized set", "-")
    lines += [f"Ensemble {th.get('ensemble', '?')} ({th.get('null_size', 0)} canaries in the null, "
              f"{th.get('n_natural_scored', 0)} natural points scored).", ""]  # fmt: skip
    lines += _memorized_table(th)
    lines += test_rule_lines(th)
    lines += [f"**Regime:** {regime(th)}.", ""]
    fit = th.get("fit") or th.get("recipe_check") or th.get("fitcheck")
    if fit is None and paths.get("fit"):
        fit = load_json(paths["fit"]) if Path(paths["fit"]).exists() else None
    line = _fit_line(fit)
    if line:
        lines += [f"**Recipe:** {line}", ""]
    if paths.get("gallery") and Path(paths["gallery"]).exists():
        lines += heading(f"{dataset} / {arch}: the most memorized images", "~")
        lines += rst_image(paths["gallery"])
    return lines


LEAKAGE_KEYS = ("influence", "influence_summary", "influence_duplicates", "table3_split", "influence_gallery")
PART_WORDS = {
    "all": "all",
    "with_partner": "with a high-influence memorized partner",
    "without_partner": "without one",
    "matched_control": "without one, matched to the with-partner points' difficulty (control)",
}


def _influence_bar(path) -> list[str]:
    """What high-influence means at this ensemble's size (influence.json): the smallest influence that can
    be flagged, not the configured threshold, is the bar a pair clears."""
    s = load_json(path)
    bar = s.get("min_flaggable_infl")
    bar_text = f"**{bar:.2f}**" if bar is not None else "**none**: no count table passes at this size"
    crossfit = (
        "chosen to share no member with the ones that pick the memorized sets"
        if s.get("cross_fitted")
        else "not cross-fitted: they are members that pick memorized sets too"
    )
    smallest = s.get("smallest_flagged_infl")
    end = f", the smallest flagged {smallest:.2f}." if smallest is not None else "."
    return [
        f"Influence pairs from {s['ensemble']} ({s['members']} members, {s['n_in']} in / {s['n_out']} out "
        f"per training point; {crossfit}). A pair is high-influence when infl ≥ {s['threshold']} and its "
        f"exact one-sided p, Bonferroni-adjusted over the {s['tested_pairs']:,} pairs tested, is ≤ "
        f"{s['alpha']}: at this size the smallest influence that can be flagged is {bar_text}{end}",
        "",
    ]


def _strongest_pairs(path, n: int = 5) -> list[str]:
    """The n strongest high-influence pairs of influence.csv, one row each (ties: the log-odds influence,
    then the index; memgen.influence.leakage.strongest_pairs)."""
    from memgen.influence.jobs import high_rows, read_influence
    from memgen.influence.leakage import strongest_pairs

    hi = read_influence(path, rows=high_rows)
    kept = hi.attrs["rows"]
    if hi.empty:
        return [f"No high-influence pair among the {kept} kept pairs.", ""]

    def name(file, split, i) -> str:
        return file or f"{split} #{i}"  # read_influence reads a missing file as ""

    rows = [
        [
            f"{name(r['train_file'], 'train', r['train_index'])} ({r['train_label_name']})",
            f"{name(r['test_file'], 'test', r['test_index'])} ({r['test_label_name']})",
            f"{r['infl']:.2f} [{r['infl_lo']:.2f}, {r['infl_hi']:.2f}]",
            _p(r["p_adjusted"]),
            "yes" if r["memorized"] else "no",
        ]
        for _, r in strongest_pairs(hi, n).iterrows()
    ]
    head = [f"{len(hi)} high-influence pairs of {kept} kept; the strongest:", ""]
    header = ["training point", "test point it lifts", "infl [95 % interval]", "p (Bonferroni)", "memorized"]
    return head + rst_table(header, rows)


def _duplicates_table(path) -> list[str]:
    """influence_duplicates.csv: both sources over the same training points, recall among contested test
    points, every pair's influence."""
    dup = pd.read_csv(path, keep_default_na=False, na_values=[""])
    rows = [
        [r["source"], f"{r['pairs']} ({r['contested_pairs']})",
         f"{r['test_points']} ({r['contested_test_points']})",
         f"{r['found_pair']} ({_pct(r['found_pair_share'])})",
         f"{r['found_test_point']} ({_pct(r['found_test_point_share'])})",
         f"{_num(r['median_infl'])} ({_num(r['median_infl_contested'])})", _text(r["note"])]
        for _, r in dup.iterrows()
    ]  # fmt: skip
    head = [
        "Both sources over the same natural training points; in brackets, the test points some members get "
        "right and some wrong (elsewhere every influence is 0), the shares' denominators.",
        "",
    ]
    header = ["source", "pairs (contested)", "test points (contested)", "same pair in the other",
              "same test point", "median infl (contested)", "note"]  # fmt: skip
    return head + rst_table(header, rows)


def _split_table(path) -> list[str]:
    """table3_split.csv: each part's difference with its test-aware interval and its contribution."""
    split = pd.read_csv(path, keep_default_na=False, na_values=[""])
    first = split.iloc[0]
    fitted = "cross-fitted" if str(first["cross_fitted"]).lower() == "true" else "not cross-fitted"
    lines = [
        f"Table 3 ({first['variant']}) split by a high-influence memorized partner (pairs from "
        f"{first['influence_ensemble']}, {fitted}; a partner pair needs infl ≥ "
        f"{_num(first['min_flaggable_infl'])} at the split's {int(first['partner_family']):,} pairs tested): "
        "memorized-vs-random difference, and each part's contribution to the total (n_part × diff / n_all; "
        "with and without add up to all). The control holds without-partner points of the same difficulty.",
        "",
    ]

    def pp(x) -> str:
        return _num(x, "{:+.2f}")

    rows = [
        [str(r["test_set"]), PART_WORDS.get(r["part"], r["part"]), str(r["n_test"]),
         f"{pp(r['diff_pp'])} [{pp(r['ci_lo_pp'])}, {pp(r['ci_hi_pp'])}]",
         _p(r["p_value"]), pp(r["contribution_pp"]), _text(r["note"])]
        for _, r in split.iterrows()
    ]  # fmt: skip
    header = ["test set", "test points", "n", "difference, pp [95 %]", "p", "contribution, pp", "note"]
    return lines + rst_table(header, rows)


def _leakage(dataset: str, arch: str, paths: dict) -> list[str]:
    """Influence pairs against the duplicate detector, and Table 3 split by high-influence partner."""
    if not all(paths.get(k) and Path(paths[k]).exists() for k in LEAKAGE_KEYS):
        return []
    lines = heading(f"{dataset} / {arch}: leakage seen two ways", "-")
    lines += _influence_bar(paths["influence_summary"])
    lines += _strongest_pairs(paths["influence"])
    lines += _duplicates_table(paths["influence_duplicates"])
    lines += _split_table(paths["table3_split"])
    lines += heading(f"{dataset} / {arch}: the strongest influence pairs", "~")
    return lines + rst_image(paths["influence_gallery"], alt="the strongest influence pairs")


PROXY_KEYS = ("proxies_validation", "proxies_figure")
PROXY_AUDIT_KEYS = ("proxies", "memorized_proxy", "proxy_gallery")  # a proxy audit's (memgen.proxy_report)


def _proxies(dataset: str, arch: str, paths: dict) -> list[str]:
    """The proxies' validation (proxies_validation.csv): each proxy from all proxy models against the
    ensembles, leave-one-out and the canaries, one model's fz correlation beside it, and the figure."""
    if not all(paths.get(k) and Path(paths[k]).exists() for k in PROXY_KEYS):
        return []
    table = pd.read_csv(paths["proxies_validation"], dtype={"models": str})
    every, one = (table[table["models"] == m].set_index("proxy") for m in ("all", "1"))
    first, single = every.iloc[0], one.iloc[0]
    models = int(first["model_epochs"] // single["model_epochs"])
    lines = heading(f"{dataset} / {arch}: memorization proxies against the ensembles", "-")
    lines += [
        f"Each proxy from {models} models trained on every training point ({first['cost_ratio']:.1%} of "
        f"the reference ensemble's {int(first['reference_model_epochs']):,} model-epochs; one model "
        f"{single['cost_ratio']:.1%}), against what this study measured: Spearman ρ [95 %] over "
        f"{int(first['n_natural']):,} natural points, over leave-one-out's random sample "
        f"({int(first['n_loo'])} points), precision among the proxy's top {int(first['k'])} (the memorized "
        f"set's size), AUROC of the {int(first['n_canary'])} canaries.",
        "",
    ]

    def rho(r, key) -> str:
        if pd.isna(r[f"spearman_{key}"]):
            return "n/a"
        return f"{r[f'spearman_{key}']:.2f} [{r[f'spearman_{key}_lo']:.2f}, {r[f'spearman_{key}_hi']:.2f}]"

    rows = [
        [name, rho(r, "fz"), rho(r, "frac"), rho(r, "loo"), _num(r["precision_at_k"], "{:.2f}"),
         _num(r["auroc_canary"], "{:.2f}"), rho(one.loc[name], "fz")]
        for name, r in every.iterrows()
    ]  # fmt: skip
    header = ["proxy", "ρ fz", "ρ frac", "ρ leave-one-out", "precision at k", "AUROC canaries"]
    header.append("ρ fz, 1 model")
    lines += rst_table(header, rows)
    return lines + rst_image(paths["proxies_figure"], alt="memorization proxies against the ensembles")


def summary_rst(table1_path, table3_path, pairs: dict) -> str:
    """pairs: {(dataset, arch): {"thresholds": path, "gallery": png path, "fit": path or None}}. A table
    path is None where the config's `scope` does not build it (an audit: no Table 1; `--no-utility`: no
    Table 3)."""
    t1 = pd.read_csv(table1_path) if table1_path else None
    t3 = pd.read_csv(table3_path) if table3_path else None
    lines = heading("memgen: what this study found", "=")
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
        lines += _classes(dataset, arch, paths.get("table3_classes"))
        lines += _leakage(dataset, arch, paths)
        lines += _proxies(dataset, arch, paths)
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
    write_page(summary_rst(table1_path, table3_path, pairs), out)


def write_page(text: str, out) -> None:
    """The report's first page, written whole or not at all (a half-written page is never left behind)."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(out) + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)


def pairs_from_inputs(inputs: dict, pairs: list) -> dict:
    """{(dataset, arch): {"thresholds": ..., "gallery": ...}} from the rule's named inputs
    thresholds_<i>, gallery_<i>, where pair i is pairs[i] = [dataset, arch]."""
    out = {}
    for i, (dataset, arch) in enumerate(pairs):
        out[(dataset, arch)] = {
            k: inputs[f"{k}_{i}"]
            for k in (
                "thresholds",
                "gallery",
                "table3_classes",
                *LEAKAGE_KEYS,
                *PROXY_KEYS,
                *PROXY_AUDIT_KEYS,
            )
            if f"{k}_{i}" in inputs
        }
    return out
