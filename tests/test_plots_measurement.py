import numpy as np
import pandas as pd
import pytest

from memgen.analysis.definitions import compare_definitions, detection
from memgen.figures import measurement
from memgen.scores.thresholds import compute_thresholds, score_groups


def scores(seed: int, n: int = 200, n_canaries: int = 20) -> pd.DataFrame:
    """A small score table: canaries often fit in, rarely out; natural points mostly fit either way."""
    rng = np.random.default_rng(seed)
    canary = np.zeros(n, dtype=int)
    canary[:n_canaries] = 1
    n_in = np.full(n, 8)
    n_out = np.full(n, 8)
    n_out[-3:] = 0  # never held out
    acc_in = np.where(canary == 1, rng.integers(2, 9, n) / 8, rng.integers(5, 9, n) / 8)
    acc_out = np.where(canary == 1, rng.integers(0, 2, n) / 8, rng.integers(0, 9, n) / 8)
    acc_out = np.where(n_out > 0, acc_out, np.nan)
    fz = acc_in - acc_out
    total = acc_in + acc_out
    frac = np.where(total > 0, fz / np.where(total > 0, total, 1), 0.0)
    frac = np.where(np.isnan(fz), np.nan, frac)
    # continuous definitions: the counting ones blurred, so they tie nowhere
    conf = np.clip(frac * 0.9 + rng.normal(0, 0.05, n), -1, 1)
    lira = np.tanh(2 * fz + rng.normal(0, 0.2, n))
    return pd.DataFrame(
        {
            "canary": canary,
            "n_in": n_in,
            "n_out": n_out,
            "acc_in": acc_in,
            "acc_out": acc_out,
            "fz": fz,
            "frac": frac,
            "conf": conf,
            "lira": lira,
        }
    )


def definitions_table() -> pd.DataFrame:
    rows = []
    for dataset, arch in [("digits", "mlp"), ("digits", "cnn")]:
        for i, (rate, wd) in enumerate([(0.5, 0.0), (0.95, 0.0), (0.95, 5e-4), (0.95, 5e-3)]):
            df = compare_definitions(scores(i + len(arch)), min_out=2)
            rows.append(
                df.assign(
                    dataset=dataset, arch=arch, ensemble=f"rate{rate}-wd{wd}", rate=rate, weight_decay=wd
                )
            )
    return pd.concat(rows, ignore_index=True)


def written(tmp_path, name):
    paths = [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]
    return paths


def check(paths):
    png, pdf = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000


def test_fig_sampling_bias(tmp_path):
    paths = written(tmp_path, "fig1")
    df = pd.DataFrame(
        {
            "ensemble": ["rate0.1", "rate0.1", "rate0.5", "rate0.5"],
            "rate": [0.1, 0.1, 0.5, 0.5],
            "definition": ["fz", "frac", "fz", "frac"],
            "mae": [0.12, 0.2, 0.05, 0.08],
            "std_abs_error": [0.1, 0.15, 0.04, np.nan],
            "n_points": [100, 100, 120, 120],
        }
    )
    measurement.fig_sampling_bias(df, paths)
    check(paths)


def test_fig_fpr_and_sweep_several_combos(tmp_path):
    df = definitions_table()
    measurement.fig_fpr(df, written(tmp_path, "fig2"))
    check(written(tmp_path, "fig2"))
    sweep = df[df["rate"] == 0.95]
    measurement.fig_sweep(sweep, written(tmp_path, "fig8"))
    check(written(tmp_path, "fig8"))


def test_fig_fpr_one_combo_without_dataset_columns(tmp_path):
    df = definitions_table().query("arch == 'mlp'").drop(columns=["dataset", "arch"])
    measurement.fig_fpr(df, written(tmp_path, "fig2"))
    check(written(tmp_path, "fig2"))


@pytest.mark.parametrize("definition", ["fz", "frac", ("fz", "frac", "conf", "lira")])
def test_fig_null(tmp_path, definition):
    table = scores(0)
    thresholds = compute_thresholds(table, alpha=0.05, tail="upper", fixed_tau=0.25, min_out=2)
    measurement.fig_null(score_groups(table, definition, 2), thresholds, written(tmp_path, "fig3"))
    check(written(tmp_path, "fig3"))


def test_fig_null_empty_null(tmp_path):
    table = scores(0).query("canary == 0")
    thresholds = compute_thresholds(table, alpha=0.05, tail="upper", fixed_tau=0.25, min_out=2)
    measurement.fig_null(score_groups(table, "frac", 2), thresholds, written(tmp_path, "fig3"))
    check(written(tmp_path, "fig3"))


def test_fig_null_without_log_odds_draws_the_counting_definitions(tmp_path):
    table = scores(0).assign(conf=np.nan, lira=np.nan)
    thresholds = compute_thresholds(table, alpha=0.05, tail="upper", fixed_tau=0.25, min_out=2)
    groups = score_groups(table, ("fz", "frac", "conf", "lira"), 2)
    assert list(groups) == ["fz", "frac"]  # conf and lira have no score: no panel
    measurement.fig_null(groups, thresholds, written(tmp_path, "fig3"))
    check(written(tmp_path, "fig3"))


def test_fig_curves(tmp_path):
    curves = {"rate0.95": detection(scores(1), 2), "rate0.5": detection(scores(2), 2)}
    measurement.fig_curves(curves, 2, written(tmp_path, "fig7"))
    check(written(tmp_path, "fig7"))
    # one ensemble, and one ensemble with no canaries
    natural = scores(3).query("canary == 0")
    curves = {"rate0.95": detection(scores(1), 2), "none": detection(natural, 2)}
    measurement.fig_curves(curves, 2, written(tmp_path, "fig7b"))
    check(written(tmp_path, "fig7b"))


def test_fig_stability(tmp_path):
    df = pd.DataFrame(
        {
            "definition": ["fz", "fz", "fz", "frac", "frac", "frac"],
            "size": [2, 4, 8] * 2,
            "n_groups": [8, 4, 2] * 2,
            "mean_spearman": [0.5, 0.7, 0.85, 0.55, 0.75, 0.9],
            "std_spearman": [0.05, 0.03, np.nan, 0.04, 0.02, np.nan],
            "n_pairs": [28, 6, 1] * 2,
        }
    )
    measurement.fig_stability(df, written(tmp_path, "fig9"))
    check(written(tmp_path, "fig9"))
