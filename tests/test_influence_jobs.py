"""The influence stage's jobs on small files written here: influence.csv and influence.json from member
outputs, a member of the wrong shape, the comparison with the duplicate list on equal terms, Table 3 split by
partner against a hand computation, and the summary page's leakage section."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.memorized import COLUMNS
from memgen.ensemble.outputs import load_outputs, save_outputs
from memgen.errors import MemgenError
from memgen.influence.jobs import (
    INFLUENCE_COLUMNS,
    read_influence,
    write_influence,
    write_influence_duplicates,
    write_table3_split,
)
from memgen.io import load_json, save_npz
from memgen.utility.removal import save_removal

K, N, T, C = 24, 10, 6, 3
PARAMS = {"ensemble": "rate0.5", "cross_fitted": True, "top": 2, "threshold": 0.15, "alpha": 0.05}


def outputs(pred, labels):
    pred = np.asarray(pred)
    return {
        "pred": pred.astype(np.uint16),
        "margin": np.zeros(len(pred)),
        "log_odds": np.where(pred == labels, 2.0, -2.0),
    }


def influence(tmp, members, out="influence.csv"):
    """write_influence on the study's files, to tmp / out and its record beside it (.json)."""
    inputs = [tmp / f for f in ("masks.npz", "index.npz", "canaries.npz", "memorized.csv")]
    summary = (tmp / out).with_suffix(".json")
    return write_influence(inputs[0], members, *inputs[1:], tmp / out, summary, PARAMS)


@pytest.fixture
def study(tmp_path):
    """K members of a 10-point, 6-test-point, 3-class dataset. Test point 0 is right exactly when training
    point 3 is in (a planted twin), test point 2 exactly when it is out (as hard as test point 0: its matched
    control), test point 4 always (no influence can show there); training point 9 is a canary, training
    point 3 is memorized."""
    rng = np.random.default_rng(0)
    labels, test_labels = np.arange(N) % C, np.arange(T) % C
    save_npz(
        tmp_path / "index.npz",
        n=N,
        labels=labels,
        num_classes=C,
        classes=np.array(["a", "b", "c"]),
        test_labels=test_labels,
    )
    mask = np.zeros((K, N), dtype=bool)
    for i in range(N):
        mask[rng.permutation(K)[: K // 2], i] = True
    save_npz(tmp_path / "masks.npz", mask=mask)
    canary = np.zeros(N, dtype=bool)
    canary[9] = True
    save_npz(tmp_path / "canaries.npz", canary=canary)
    members = []
    for k in range(K):
        right = rng.random(T) < 0.7
        right[0] = mask[k, 3]
        right[1] = mask[k, 9]  # leans on the canary alone: never reported
        right[2] = not mask[k, 3]
        right[4] = True
        pred = np.where(right, test_labels, (test_labels + 1) % C)
        path = tmp_path / f"members/{k}/outputs.npz"
        save_outputs(
            path, {"train": outputs(labels, labels), "test_original": outputs(pred, test_labels)}, member=k
        )
        members.append(str(path))
    row = dict.fromkeys(COLUMNS, "")
    row |= {"index": 3, "label": 0, "score": 1.0}
    pd.DataFrame([row], columns=list(COLUMNS)).to_csv(tmp_path / "memorized.csv", index=False)
    return tmp_path, members, mask


def test_influence_csv_names_the_planted_twin(study):
    tmp, members, mask = study
    out = tmp / "influence.csv"
    got = influence(tmp, members)
    table = read_influence(out)
    assert list(table.columns) == list(INFLUENCE_COLUMNS)
    first = table[(table["test_index"] == 0) & (table["rank"] == 1)].iloc[0]
    assert first["train_index"] == 3 and first["infl"] == 1.0 and first["high"] and first["memorized"]
    assert (
        first["train_label_name"] == "a"
        and first["test_label_name"] == "a"
        and first["test_set"] == "original"
    )
    assert 9 not in set(table["train_index"])  # the canary
    assert got["high"] == int(table["high"].sum()) >= 1


def test_a_member_of_the_wrong_shape_fails_in_one_line_naming_it(study):
    tmp, members, _ = study
    labels = np.arange(N) % C
    save_outputs(
        members[5],
        {"train": outputs(labels, labels), "test_original": outputs(np.zeros(T - 1), np.zeros(T - 1))},
    )
    with pytest.raises(MemgenError) as e:
        influence(tmp, members, "i.csv")
    assert members[5] in str(e.value) and "\n" not in str(e.value)
    assert not (tmp / "i.csv").exists()


def test_influence_json_records_the_bar_at_this_size(study):
    """influence.json: the typical n_in / n_out (balanced: 12 / 12), the family (valid natural training
    points x contested test points), the smallest flaggable influence there (compute.min_flaggable), each
    test point's members right; the job's return value says the same."""
    from memgen.influence import compute
    from memgen.io import load_json

    tmp, members, mask = study
    got = influence(tmp, members)
    s = load_json(tmp / "influence.json")
    table = read_influence(tmp / "influence.csv")
    right = np.array(s["test_right"])
    assert (s["members"], s["n_in"], s["n_out"], s["n_in_values"]) == (K, 12, 12, [12])
    assert (
        right[0] == 12
        and right[4] == K
        and s["contested_test_points"] == int(((right > 0) & (right < K)).sum())
    )
    assert s["valid_train_points"] == N - 1 and s["invalid_train"] == []  # the canary is not "invalid"
    assert s["tested_pairs"] == (N - 1) * s["contested_test_points"]
    bar = compute.min_flaggable(12, 12, s["tested_pairs"], 0.05, 0.15)
    assert s["min_flaggable_infl"] == got["min_flaggable_infl"] == pytest.approx(bar) and bar > 0.5
    assert s["high_pairs"] == int(table["high"].sum()) and s["smallest_flagged_infl"] >= bar
    assert s["cross_fitted"] is True and s["ensemble"] == "rate0.5"


def duplicates(tmp, members, pairs) -> pd.DataFrame:
    """write_influence_duplicates with a detector list of (train, test) `pairs`, by source."""
    train, test = zip(*pairs, strict=True)
    pd.DataFrame({"TestID": test, "TrainID": train, "Distance": 0.1, "Judgment": 1}).to_csv(
        tmp / "dups.csv", index=False
    )
    files = [tmp / f for f in ("masks.npz", "index.npz", "canaries.npz")]
    return write_influence_duplicates(
        tmp / "influence.csv", tmp / "dups.csv", files[0], members, *files[1:], tmp / "cmp.csv"
    ).set_index("source")


def test_the_detector_comparison_counts_test_points_and_scores_every_detector_pair(study):
    """The detector lists the twin (3, 0), a second training point for test point 0 (6, 0), a pair influence
    never keeps (8, 2), a pair on test point 4 that every member gets right (7, 4: influence 0) and a canary's
    pair (9, 1), which influence never measures. Both sides search the natural training points; test points
    are counted once; every detector pair gets its influence from the members; recall is over contested
    test points."""
    tmp, members, mask = study
    influence(tmp, members)
    table = read_influence(tmp / "influence.csv")
    n_high = int(table["high"].sum())
    df = duplicates(tmp, members, [(3, 0), (6, 0), (8, 2), (7, 4), (9, 1), (3, 0)])
    det, high = df.loc["duplicate detector pairs"], df.loc["high-influence pairs"]
    assert (det["pairs"], det["contested_pairs"], det["test_points"], det["contested_test_points"]) == (
        4,
        3,
        3,
        2,
    )
    # test points, not pairs: test point 0 is found once though the detector pairs it twice
    assert det["found_test_point"] == 1 and det["found_test_point_share"] == 0.5
    assert det["found_pair"] == 1 and det["found_pair_share"] == pytest.approx(1 / 3)
    assert (
        "left out: 1 pairs naming a canary" in det["note"]
        and "1 of 4 on test points every member" in det["note"]
    )
    # every detector pair's influence, kept in influence.csv or not, by brute force
    correct = np.zeros((K, T), bool)
    for k, path in enumerate(members):
        out = load_outputs(path, sets=("test_original",), fields=("pred",))["test_original"]
        correct[k] = out["pred"] == np.arange(T) % C
    infl = {
        (i, j): correct[mask[:, i], j].mean() - correct[~mask[:, i], j].mean()
        for i, j in [(3, 0), (6, 0), (8, 2), (7, 4)]
    }
    assert not ((table["train_index"] == 8) & (table["test_index"] == 2)).any()  # not kept, yet scored
    assert det["median_infl"] == pytest.approx(np.median(list(infl.values())))
    assert det["median_infl_contested"] == pytest.approx(
        np.median([infl[p] for p in [(3, 0), (6, 0), (8, 2)]])
    )
    assert infl[(7, 4)] == 0
    assert high["pairs"] == n_high and high["found_pair"] == 1 and high["found_test_point"] == 1


def utility_runs(tmp) -> list[str]:
    """Two seeds per condition. Memorized-removed runs miss test point 0 and get the rest right;
    random-removed runs get everything right but test point 5 on seed 1."""
    test_labels = np.arange(T) % C
    runs = []
    for condition in ("memorized", "random"):
        for seed in (0, 1):
            pred = test_labels.copy()
            if condition == "memorized":
                pred[0] = (pred[0] + 1) % C
            elif seed == 1:
                pred[5] = (pred[5] + 1) % C
            path = tmp / f"utility/{condition}/0/{seed}/outputs.npz"
            save_outputs(path, {"test_original": outputs(pred, test_labels)}, seed_id=np.int64(seed))
            runs.append(str(path))
    return runs


def split(tmp, members, **params) -> pd.DataFrame:
    influence(tmp, members)
    save_removal(
        tmp / "removal.npz", {"memorized": [3], "random": [4], "n_natural": 9, "n_train": N, "reason": ""}
    )
    params = {"dataset": "d", "arch": "a", "variant": "all", "test_set": "original", "seeds": 2} | params
    return write_table3_split(
        tmp / "influence.csv",
        tmp / "influence.json",
        tmp / "removal.npz",
        utility_runs(tmp),
        tmp / "index.npz",
        None,
        tmp / "s.csv",
        params,
    )


def test_table3_split_matches_a_hand_computation_and_its_parts_add_up(study):
    """Test point 0 has the memorized partner 3 (its pair passes the split's family: memorized x contested
    test points); test point 2, right on as many members, is its matched control."""
    from memgen.io import load_json

    tmp, members, _ = study
    df = split(tmp, members)
    by = df.set_index("part")
    summary = load_json(tmp / "influence.json")
    assert list(df["part"]) == ["all", "with_partner", "without_partner", "matched_control"]
    assert (by["partner_family"] == summary["contested_test_points"]).all()  # 1 memorized point x contested
    # with partner: test point 0 alone, memorized-removed 0 %, random-removed 100 % -> -100 pp on both seeds
    assert by.loc["with_partner", "n_test"] == 1 and by.loc["with_partner", "diff_pp"] == -100.0
    # without: 5 points, memorized 100 %, random 100 % and 80 % -> +0 and +20 pp, mean +10
    assert by.loc["without_partner", "n_test"] == 5
    assert by.loc["without_partner", "diff_pp"] == pytest.approx(10.0)
    # all: memorized 5/6, random 6/6 and 5/6 -> -16.67 and 0 pp
    assert by.loc["all", "diff_pp"] == pytest.approx((-100 / 6 + 0) / 2)
    # contributions: n_part x diff_part / n_all, adding up to all's difference
    assert by.loc["with_partner", "contribution_pp"] == pytest.approx(-100 / 6)
    assert by.loc["without_partner", "contribution_pp"] == pytest.approx(5 * 10 / 6)
    parts_sum = by.loc["with_partner", "contribution_pp"] + by.loc["without_partner", "contribution_pp"]
    assert (
        parts_sum
        == pytest.approx(by.loc["all", "diff_pp"])
        == pytest.approx(by.loc["all", "contribution_pp"])
    )
    # the matched control: the other test points as hard as test point 0 (12 of 24 members right, as test
    # point 2 by construction), weighted equally; of them only test point 5 differs, on seed 1, by 100 pp
    tenth = np.minimum(np.array(summary["test_right"]) * 10 // K, 9)
    control = [j for j in range(1, T) if tenth[j] == tenth[0]]
    assert 2 in control and by.loc["matched_control", "n_test"] == len(control)
    expected = (0 + 100 * (5 in control) / len(control)) / 2
    assert by.loc["matched_control", "diff_pp"] == pytest.approx(expected)
    assert np.isnan(by.loc["matched_control", "contribution_pp"])  # not a part of the sum
    assert (df["cross_fitted"]).all() and (df["influence_ensemble"] == "rate0.5").all()
    assert by.loc["all", "p_seeds"] == pytest.approx(0.5)  # -16.67 and 0 pp over two seeds: t = 1
    assert by.loc["all", "ci_lo_pp"] <= by.loc["all", "diff_pp"] <= by.loc["all", "ci_hi_pp"]
    assert list(df["test_set"]) == ["original"] * 4


def test_the_summary_states_the_bar_the_intervals_and_the_contributions(study):
    from memgen import report
    from memgen.figures.jobs import gallery_title
    from memgen.io import load_json

    tmp, members, _ = study
    split(tmp, members)
    duplicates(tmp, members, [(3, 0)])
    (tmp / "g.png").write_bytes(b"png")
    files = {"influence": "influence.csv", "influence_summary": "influence.json"}
    files |= {"influence_duplicates": "cmp.csv", "table3_split": "s.csv", "influence_gallery": "g.png"}
    text = "\n".join(report._leakage("d", "a", {k: str(tmp / v) for k, v in files.items()}))
    s = load_json(tmp / "influence.json")
    bar = f"{s['min_flaggable_infl']:.2f}"
    assert f"the smallest influence that can be flagged is **{bar}**" in text
    table = read_influence(tmp / "influence.csv")
    twin = table[(table["train_index"] == 3) & (table["test_index"] == 0)].iloc[0]
    assert f"1.00 [{twin['infl_lo']:.2f}, 1.00]" in text and "contribution, pp" in text
    assert f"infl ≥ {bar}" in gallery_title("d", "a", s) and "12 in / 12 out" in gallery_title("d", "a", s)


def test_the_gallery_job_hands_the_figure_the_strongest_pairs(study, monkeypatch):
    """write_fig_influence draws influence.csv's strongest pairs (memgen.influence.leakage.strongest_pairs),
    titled with the high-influence and kept pair counts; a real draw writes both files."""
    import memgen.figures.jobs as fj
    from memgen.influence.leakage import strongest_pairs

    tmp, members, _ = study
    influence(tmp, members)
    table = read_influence(tmp / "influence.csv")
    args = [tmp / "influence.csv", tmp / "influence.json", tmp / "index.npz", "digits", "mlp", {}]
    drawn = {}
    real = fj.fig_influence
    monkeypatch.setattr(
        fj, "fig_influence", lambda shown, image, paths, title, **kw: drawn.update(kw, shown=shown)
    )
    fj.write_fig_influence(*args, [tmp / "g.png"], {"gallery": 3})
    want = strongest_pairs(table, 3).reset_index(drop=True)
    pd.testing.assert_frame_equal(drawn["shown"].reset_index(drop=True), want)
    assert drawn["n_high"] == int(table["high"].sum()) >= 1 and drawn["n_kept"] == len(table)
    monkeypatch.setattr(fj, "fig_influence", real)
    out = [tmp / "g.png", tmp / "g.pdf"]
    fj.write_fig_influence(*args, out, {"gallery": 3})
    assert out[0].stat().st_size > 5000 and out[1].read_bytes()[:5] == b"%PDF-"


def test_influence_is_read_chunk_by_chunk_to_the_same_rows_a_whole_read_gives(study, monkeypatch):
    """read_influence in chunks of 4 rows: every row without a filter, the high rows with high_rows, the
    same row and high counts; the split's filter (partner_candidates) leaves partner_flag's answer as the
    whole table gives it."""
    import memgen.influence.jobs as ij

    tmp, members, _ = study
    influence(tmp, members)
    whole = read_influence(tmp / "influence.csv")
    monkeypatch.setattr(ij, "_CHUNK_ROWS", 4)
    assert len(whole) > 8
    chunked = read_influence(tmp / "influence.csv")
    pd.testing.assert_frame_equal(chunked, whole)
    high = read_influence(tmp / "influence.csv", ("train_index", "high"), ij.high_rows)
    assert list(high.columns) == ["train_index", "high"] and high["high"].all()
    assert high["train_index"].tolist() == whole.loc[whole["high"], "train_index"].tolist()
    assert high.attrs == {"rows": len(whole), "high": int(whole["high"].sum())} and whole["high"].any()
    summary = load_json(tmp / "influence.json")
    memorized = np.array([3, 5])
    kept = read_influence(tmp / "influence.csv", ij.SPLIT_READS, ij.partner_candidates(summary, memorized))
    assert len(kept) < len(whole)
    a, b = (ij.partner_flag(t, summary, memorized, T) for t in (whole, kept))
    assert a["partner"].tolist() == b["partner"].tolist() and a["partner"].any() and a["bar"] == b["bar"]
