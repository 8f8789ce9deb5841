"""The HTML report in a real browser: it opens on the summary page (the study's answer in numbers and the
gallery), and every figure it embeds decodes. Headless Chromium (Debian's `chromium`); CI installs it,
elsewhere the browser tests skip when it is absent."""

import base64
import json
import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
from workflow_helpers import guard

from memgen.report import summary_rst


def chromium() -> str:
    exe = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Chromium (apt-get install -y chromium; ci/test.sh does)")
        pytest.skip("no Chromium here (apt-get install -y chromium)")
    return exe


def dump_dom(exe: str, url: str) -> str:
    """The page's DOM after its scripts ran (the report is a React app that renders on load)."""
    cmd = [
        exe,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=20000",
        "--dump-dom",
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=guard(180), check=True).stdout


@pytest.fixture(scope="module")
def report(study_report):
    return study_report  # tests/conftest.py: built once, test_workflow.py reads it too


@pytest.mark.workflow
def test_report_opens_on_the_summary(report):
    dom = dump_dom(chromium(), report.as_uri())
    # rendered elements, not the JSON the page carries: docutils' title and the tables as HTML tables
    assert '<h1 class="title">memgen: what this study found</h1>' in dom
    for heading in ("The answer (Table 3)", "The ablation (Table 1)", "digits / mlp: the memorized set"):
        assert re.search(rf"<h[12]>{re.escape(heading)}</h[12]>", dom), heading
    assert re.search(r'<img alt="the most memorized training images" src="data:image/png;base64,', dom)
    assert "<strong>Regime:</strong>" in dom


@pytest.mark.workflow
def test_every_figure_in_the_report_decodes(report, study, tmp_path):
    html = report.read_text(errors="replace")
    figures = dict(
        re.findall(r'"data_uri": "(data:image/png;charset=utf8;filename=([^;]+);base64,[^"]+)"', html)
    )
    figures = {name: uri for uri, name in figures.items()}
    made = {p.name for p in (study / "results" / "figures").glob("*.png")}
    assert set(figures) == made and len(made) >= 11  # every figure the study made is in the report
    # a page that loads each one as an image and writes its decoded size into the DOM
    imgs = "".join(f'<img data-name="{n}" src="{u}">' for n, u in figures.items())
    page = tmp_path / "figures.html"
    page.write_text(
        f"<html><body>{imgs}<pre id='sizes'></pre><script>"
        "window.onload = () => { document.getElementById('sizes').textContent = JSON.stringify("
        "[...document.images].map(i => [i.dataset.name, i.naturalWidth, i.naturalHeight])); };"
        "</script></body></html>"
    )
    dom = dump_dom(chromium(), page.as_uri())
    sizes = json.loads(re.search(r"<pre id=\"sizes\">(.*?)</pre>", dom, re.S).group(1).replace("&quot;", '"'))
    assert len(sizes) == len(figures)
    broken = [name for name, w, h in sizes if w < 100 or h < 100]
    assert not broken, f"figures that do not decode in Chromium: {broken}"


# ---- the summary page itself, without Snakemake ---------------------------------------------------------
def _tables(tmp_path):
    """table1.csv and table3.csv of one dataset and architecture."""
    t1 = tmp_path / "table1.csv"
    t3 = tmp_path / "table3.csv"
    pd.DataFrame(
        [{"dataset": "mine", "arch": "mlp", "variant": "frac", "score_pp": -0.04, "std_pp": 0.37,
          "p_value": 0.62, "delta_pp": 0.67, "delta_p_value": 3e-5, "seeds": 20, "n_removed": 59, "note": ""}]
    ).to_csv(t1, index=False)  # fmt: skip
    pd.DataFrame(
        [{"dataset": "mine", "arch": "mlp", "test_set": "dedup", "acc_memorized_removed": 97.53,
          "acc_random_removed": 97.64, "diff_pp": -0.11, "std_pp": 0.37, "p_value": 0.19,
          "significant_0.05": False, "seeds": 20, "n_removed": 20, "note": ""}]
    ).to_csv(t3, index=False)  # fmt: skip
    return t1, t3


def test_summary_names_the_answer_and_keeps_undefined_sets_visible(tmp_path):
    t1, t3 = _tables(tmp_path)
    th = tmp_path / "thresholds.json"
    why = "memorized set undefined: members fit almost none of the canaries"
    th.write_text(
        json.dumps(
            {"ensemble": "rate0.95", "null_size": 72, "n_natural_scored": 1365,
             "canary_acc_in": {"mean": 0.004, "q25": 0, "median": 0, "q75": 0},
             "regime": {"frac": {"kind": "at_zero", "top_share": 0.0}},
             "rules": {"null": {"frac": {"tau": 0.0, "n_memorized": None, "note": why}},
                       "fixed": {"frac": {"tau": 0.25, "n_memorized": 50, "fraction_memorized": 0.0366,
                                          "note": None}}}}
        )
    )  # fmt: skip
    png = tmp_path / "gallery.png"
    png.write_bytes(
        base64.b64decode(
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
        )
    )
    text = summary_rst(t1, t3, {("mine", "mlp"): {"thresholds": th, "gallery": png}})
    assert "-0.11 ± 0.37 pp" in text and "0.19 (no)" in text
    assert "\\+ Fractional difference" in text  # not a bullet list
    assert "undefined [1]" in text and f"[1] {why}" in text and "50 (3.7 %)" in text
    assert "frac: members fit (almost) no canary" in text
    assert max(len(line) for line in text.splitlines()) < 10_000  # docutils' line limit


def test_summary_says_what_a_set_resting_on_a_tie_is_and_reads_the_regime_from_the_null(tmp_path):
    from test_thresholds import saturated_study

    from memgen.scores.thresholds import compute_thresholds

    # 94 of 100 canaries and 203 natural points at frac = 1.0: the set is the tie; mean acc_in 0.99
    th = compute_thresholds(saturated_study(), 0.05, "upper", 0.25, 10)
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"ensemble": "rate0.95", **th}))
    text = summary_rst(*_tables(tmp_path), {("mine", "mlp"): {"thresholds": path}})
    regime = next(line for line in text.splitlines() if line.startswith("**Regime:**"))
    # the null decides, not the mean: frac and fz saturated (not the paper's regime), conf and lira partly fit
    assert "canaries' acc_in mean 0.99" in regime
    assert (
        "fz, frac: the null is saturated (fz 94 %, frac 95 % of canaries within one step of the top score 1, "
        "a step being one held-out member right for fz, frac; τ fz 1, frac 1)" in regime
    )
    assert "not the paper's regime" in regime
    assert (
        "conf, lira: canaries partly fit (conf 0 %, lira 0 % of canaries within one step of the top score 1, "
        "a step being 0.005 for conf, lira)" in regime
    )
    # the tie in words, the strict reading beside the count, conf's and lira's verdict on the same points
    row = text.split("* - null rule\n     - frac\n")[1].split("* -")[0]
    assert "203 (10.2 %) [" in row and "\n     - 0\n" in row  # score >= τ: 203; strict (score > τ): 0
    mark = row.split("203 (10.2 %) [")[1].split("]")[0]
    note = next(line for line in text.splitlines() if line.startswith(f"[{mark}] "))
    assert (
        "203 of its 203 points score exactly tau = 1 (no held-out member gets them right, like 94 % of "
        in note
    )
    assert "the strict reading (score > tau) memorizes 0" in note
    assert "of these 203 tied points, conf memorizes 0 and lira memorizes 0" in note


def test_regime_line_calls_a_continuous_null_a_hair_below_one_saturated(tmp_path):
    from test_thresholds import STUDY

    from memgen.scores.thresholds import compute_thresholds

    # conf's τ 0.9999999 and lira's 0.998 (a Fashion-MNIST folder): saturated, not the paper's regime
    conf = [0.5, 0.9, 0.9999999, 0.99999995, 0.5, 0.1, 0.2, 0.3, 0.4, 0.0, float("nan"), 0.9]
    lira = [0.2, 0.5, 0.998, 0.999, 0.5, 0.1, 0.2, 0.3, 0.4, 0.0, float("nan"), 0.9]
    th = compute_thresholds(STUDY.assign(conf=conf, lira=lira), 0.25, "upper", 0.25, 2)
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"ensemble": "rate0.95", **th}))
    text = summary_rst(*_tables(tmp_path), {("mine", "mlp"): {"thresholds": path}})
    regime = next(line for line in text.splitlines() if line.startswith("**Regime:**"))
    assert (
        "frac, conf, lira: the null is saturated (frac 75 %, conf 50 %, lira 50 % of canaries within one "
        "step of the top score 1, a step being one held-out member right for frac and 0.005 for conf, lira; "
        "τ frac 1, conf 0.9999999, lira 0.998), so τ sits at the top" in regime
    )
    assert regime.count("partly fit") == 1 and "fz: canaries partly fit" in regime
