import numpy as np
import pandas as pd
import pytest
from utility_helpers import from_points, outcomes

from memgen.errors import MemgenError
from memgen.figures.utility import (
    fig_removed_scores,
    fig_seed_curve,
    fig_top_memorized,
    fig_utility,
    utility_marks,
)
from memgen.utility.stats import seed_curve
from memgen.utility.tables import table3

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def paths(tmp_path, name):
    return [tmp_path / f"{name}.png", tmp_path / f"{name}.pdf"]


def assert_written(ps):
    png, pdf = ps
    assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 1000
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not list(png.parent.glob(".*tmp*"))  # no half-written temporaries left


def scores_frame(n=40, seed=0):
    rng = np.random.default_rng(seed)
    fz = rng.uniform(-0.2, 1.0, n)
    return pd.DataFrame({"canary": [1] * 4 + [0] * (n - 4), "fz": fz, "frac": fz / 2, "n_in": 5, "n_out": 5})


@pytest.mark.parametrize("shape", [(40, 8, 8), (40, 1, 8, 8), (40, 3, 8, 8)])
def test_fig_top_memorized_writes_png_and_pdf(tmp_path, shape):
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, shape, dtype=np.uint8)
    test = rng.integers(0, 256, (10,) + shape[1:], dtype=np.uint8)
    dups = pd.DataFrame({"TestID": [0, 1, 2, 3], "TrainID": [0, 10, 11, 12], "Distance": 0.1, "Judgment": 1})
    ps = paths(tmp_path, "fig4")
    fig_top_memorized(train, test, scores_frame(), dups, "fz", 2, ps)
    assert_written(ps)
    # no pairs at all still gives a figure that says so
    ps = paths(tmp_path, "fig4_empty")
    fig_top_memorized(train, test, scores_frame(), dups.iloc[:0], "fz", 2, ps)
    assert_written(ps)


def test_fig_top_memorized_rejects_channel_last(tmp_path):
    with pytest.raises(MemgenError, match="channel-first"):
        fig_top_memorized(
            np.zeros((5, 8, 8, 4), np.uint8),
            np.zeros((5, 8, 8), np.uint8),
            scores_frame(5),
            None,
            "fz",
            1,
            [],
        )


def _row(dataset, arch, diffs, **kw):
    o = outcomes(diffs, **kw)
    return {"dataset": dataset, "arch": arch, "utility": from_points(o, 5), "points": o, "reason": ""}


def test_fig_utility_with_significant_not_significant_and_empty(tmp_path):
    t3 = table3(
        [
            _row("digits", "mlp", [10, 11, 12], class_diffs=[0, 1, 0]),
            _row("digits", "cnn", [1, -1, 0]),
            {"dataset": "longtail", "arch": "mlp", "utility": None, "reason": "tau undefined"},
        ]
    )
    # +11 pp on 100 points: significant; against the class-matched control +1/3 pp: not; 0 pp: marked *
    assert t3["control"].tolist() == ["random", "class_matched"] * 3
    assert utility_marks(t3) == ["", "*", "*", "*", "n/a", "n/a"]
    ps = paths(tmp_path, "fig5")
    fig_utility(t3, ps)
    assert_written(ps)
    # from a CSV round trip, as the workflow reads Table 3 back
    t3.to_csv(tmp_path / "t3.csv", index=False)
    back = pd.read_csv(tmp_path / "t3.csv")
    assert utility_marks(back) == ["", "*", "*", "*", "n/a", "n/a"]
    ps = paths(tmp_path, "fig5_csv")
    fig_utility(back, ps)
    assert_written(ps)


def test_fig_utility_draws_replicates_and_their_combined_bar(tmp_path):
    from memgen.utility.jobs import with_replicates
    from memgen.utility.replicates import table3_combined

    rows = [
        _row(name, "mlp", d, test_set="dedup")
        for name, d in (("digits", [1, 2]), ("digits.rep2", [-1, 0]), ("digits.rep3", [0, 1]))
    ]
    t3 = with_replicates(table3(rows), table3_combined)
    assert list(t3["replicate"]) == ["1", "1", "2", "2", "3", "3", "combined", "combined"]
    ps = paths(tmp_path, "fig5_replicates")
    fig_utility(t3, ps)
    assert_written(ps)


def test_fig_removed_scores(tmp_path):
    sets = {
        "fixed": {"memorized": np.array([5, 6, 7]), "random": np.array([4, 8, 9]), "tau": 0.25, "reason": ""},
        "null": {
            "memorized": np.array([], np.int64),
            "random": np.array([], np.int64),
            "reason": "tau undefined",
        },
    }
    ps = paths(tmp_path, "fig10")
    fig_removed_scores(scores_frame(), sets, "fz", ps)
    assert_written(ps)


def test_fig_seed_curve(tmp_path):
    df = pd.DataFrame({"seed": range(6), "diff_pp": [1.0, 1.5, 0.5, 1.2, 0.9, 1.1]})
    curve = seed_curve(df, [1, 2, 3, 4, 5, 6])
    ps = paths(tmp_path, "fig11")
    fig_seed_curve(curve, ps)
    assert_written(ps)
    two = pd.concat([curve.assign(label="digits/mlp"), curve.assign(label="digits/cnn", p=0.0)])
    ps = paths(tmp_path, "fig11_two")
    fig_seed_curve(two, ps)
    assert_written(ps)


def test_fig_top_memorized_rejects_a_list_of_another_dataset(tmp_path):
    images = np.zeros((40, 8, 8), np.uint8)
    dups = pd.DataFrame({"TestID": [0], "TrainID": [40], "Distance": 0.1, "Judgment": 1})
    with pytest.raises(MemgenError, match="duplicate list"):
        fig_top_memorized(images, images[:10], scores_frame(), dups, "fz", 2, paths(tmp_path, "x"))
