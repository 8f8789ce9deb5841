"""The gallery figure (memgen.figures.gallery, memgen.figures.jobs.write_fig_gallery) without
Snakemake."""

import json

import numpy as np
import pandas as pd
from test_stream import write_folder

from memgen.analysis.memorized import COLUMNS
from memgen.data.index import build_index
from memgen.figures.gallery import caption, choose
from memgen.figures.jobs import write_fig_gallery
from memgen.figures.style import short
from memgen.io import save_csv, save_npz

PARAMS = {"ensemble": "rate0.95", "definition": "frac", "rule": "null", "min_out": 2}


def _table(points, classes, paths):
    """memorized.csv rows for (index, label, score, instead, share) tuples."""
    rows = []
    for i, label, score, instead, share in points:
        rows.append(
            {
                "index": i,
                "path": paths[i],
                "label": label,
                "label_name": classes[label],
                "score": score,
                "fz": score,
                "frac": score,
                "acc_in": 1.0,
                "acc_out": 1 - share,
                "n_in": 30,
                "n_out": 10,
                "predicted_instead": instead,
                "predicted_instead_name": classes[instead] if instead >= 0 else "",
                "predicted_instead_share": share,
            }
        )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _thresholds(path, tau=1.0, note=None):
    entry = {"tau": tau, "n_memorized": 0, "note": note}
    path.write_text(json.dumps({"min_out": 2, "rules": {"null": {"frac": entry}}}))


def test_choose_keeps_the_top_of_each_class_and_the_fullest_classes():
    points = [(i, i % 3, 1 - i / 100, -1, 0.0) for i in range(30)]
    t = _table(points, ["a", "b", "c"], [""] * 30)
    shown = choose(t, per_class=4, max_classes=2)
    assert shown["label"].tolist() == [0] * 4 + [1] * 4  # 10 points each: the lower classes win the tie
    assert shown["index"].tolist() == [0, 3, 6, 9, 1, 4, 7, 10]


def test_captions_name_the_file_the_label_and_the_held_out_vote():
    row = _table(
        [(5, 1, 0.91, 2, 0.8)], ["cat", "dog", "fox"], {5: "train/dog/IMG_20230412_101112_HDR_edit.jpg"}
    ).iloc[0]
    assert caption(row).splitlines() == [
        "IMG_20230412_…HDR_edit.jpg",
        "label dog, score 0.91",
        "held out: 8 of 10 say fox",
    ]
    no_file = _table([(5, 1, 0.91, -1, 0.0)], ["cat", "dog", "fox"], {5: ""}).iloc[0]
    assert caption(no_file).splitlines() == ["#5", "label dog, score 0.91", "held out: all 10 say the label"]
    assert short("abcdefghij", 5) == "ab…ij" and short("abc", 5) == "abc"


def test_gallery_of_an_image_folder_reads_only_the_files_shown(tmp_path, monkeypatch):
    folder = write_folder(
        tmp_path / "photos", classes=3, per_class=10, test_per_class=2, size=(40, 30), fmt="PNG"
    )
    idx = build_index("mine", {"kind": "imagefolder", "root": str(folder), "image_size": 16})
    save_npz(tmp_path / "index.npz", **idx)
    paths = idx["train_path"].astype(str)
    classes = idx["classes"].astype(str).tolist()
    points = [
        (i, int(idx["labels"][i]), 1.0 - 0.01 * i, (int(idx["labels"][i]) + 1) % 3, 0.5)
        for i in range(0, 30, 2)
    ]
    save_csv(tmp_path / "memorized.csv", _table(points, classes, paths))
    _thresholds(tmp_path / "t.json")
    import memgen.data.stream

    opened = []
    real = memgen.data.stream.open_image
    monkeypatch.setattr(memgen.data.stream, "open_image", lambda p: opened.append(p) or real(p))
    out = [tmp_path / "gallery.png", tmp_path / "gallery.pdf"]
    spec = {"kind": "imagefolder", "root": str(folder), "image_size": 16}
    write_fig_gallery(
        tmp_path / "memorized.csv",
        tmp_path / "t.json",
        tmp_path / "index.npz",
        "mine",
        "mlp",
        spec,
        out,
        PARAMS,
    )
    assert all(p.stat().st_size > 5000 for p in out)
    assert sorted(str(p.relative_to(folder)) for p in opened) == sorted(paths[i] for i, *_ in points)


def test_gallery_of_bundled_digits_and_the_empty_case(tmp_path):
    idx = build_index("digits", {})
    save_npz(tmp_path / "index.npz", **idx)
    points = [(i, int(idx["labels"][i]), 1.0, (int(idx["labels"][i]) + 3) % 10, 0.9) for i in range(40)]
    save_csv(tmp_path / "memorized.csv", _table(points, [str(c) for c in range(10)], [""] * idx["n"]))
    _thresholds(tmp_path / "t.json")
    out = [tmp_path / "digits.png", tmp_path / "digits.pdf"]
    write_fig_gallery(
        tmp_path / "memorized.csv",
        tmp_path / "t.json",
        tmp_path / "index.npz",
        "digits",
        "mlp",
        {},
        out,
        PARAMS,
    )
    assert out[0].stat().st_size > 20000
    save_csv(tmp_path / "empty.csv", _table([], [], []))
    _thresholds(tmp_path / "undefined.json", tau=None, note="no canaries scored")
    empty = [tmp_path / "empty.png"]
    write_fig_gallery(
        tmp_path / "empty.csv",
        tmp_path / "undefined.json",
        tmp_path / "index.npz",
        "digits",
        "mlp",
        {},
        empty,
        PARAMS,
    )
    assert empty[0].stat().st_size > 1000


def test_the_gallery_holds_at_most_eight_images_a_class(tmp_path):
    points = [(i, 0, 1.0, 1, 0.5) for i in range(20)]
    t = _table(points, ["a", "b"], [""] * 20)
    assert len(choose(t)) == 8 and np.all(choose(t)["index"] == np.arange(8))


def test_fig4_names_training_and_test_files(tmp_path, monkeypatch):
    """Fig. 4's labels carry file names where the points have files, indices otherwise."""
    import memgen.figures.utility as pu

    drawn = []
    monkeypatch.setattr(pu, "save_figure", lambda fig, paths: drawn.append(fig))
    rng = np.random.default_rng(1)
    train, test = (
        rng.integers(0, 256, (6, 3, 8, 8), dtype=np.uint8),
        rng.integers(0, 256, (3, 3, 8, 8), dtype=np.uint8),
    )
    scores = pd.DataFrame({"canary": 0, "fz": np.linspace(1, 0, 6), "frac": 0.5, "n_in": 5, "n_out": 5})
    pairs = pd.DataFrame({"TestID": [2, 0], "TrainID": [0, 1], "Distance": 0.1, "Judgment": 1})
    names = np.array([f"train/cat/photo_{i}.jpg" for i in range(6)])
    pu.fig_top_memorized(
        train,
        test,
        scores,
        pairs,
        "fz",
        2,
        [],
        train_names=names,
        test_names=np.array(["", "", "test/dog/x.png"]),
    )
    titles = [ax.get_title() for ax in drawn[0].axes]
    assert (
        titles[0].startswith("photo_0.jpg")
        and titles[2].startswith("x.png")
        and titles[3].startswith("test 0")
    )


def test_a_point_on_the_tie_says_so_and_what_conf_and_lira_say(tmp_path, monkeypatch):
    row = _table([(5, 1, 1.0, 2, 0.8)], ["cat", "dog", "fox"], {5: "train/dog/a.jpg"}).iloc[0].copy()
    assert caption(row).splitlines()[1] == "label dog, score 1.00"  # no tie columns: as before
    row["at_tau"], row["conf_memorized"], row["lira_memorized"] = True, False, pd.NA
    assert caption(row).splitlines()[1:] == ["label dog, score 1.00 = τ (tie)", "held out: 8 of 10 say fox",
                                             "conf: no, lira: n/a"]  # fmt: skip
    row["at_tau"] = False
    assert len(caption(row).splitlines()) == 3
    # the title carries the set's tie in words (thresholds.json tau_ties.text)
    import memgen.figures.jobs as jobs

    drawn = {}
    monkeypatch.setattr(jobs, "fig_gallery", lambda table, image, paths, **kw: drawn.update(kw))
    idx = build_index("digits", {})
    save_npz(tmp_path / "index.npz", **idx)
    save_csv(tmp_path / "m.csv", _table([(0, 0, 1.0, 3, 0.9)], [str(c) for c in range(10)], [""] * idx["n"]))
    text = "the memorized set rests on a tie: 1 of its 1 points score exactly tau = 1 (...)"
    entry = {"tau": 1.0, "n_memorized": 1, "note": None, "tau_ties": {"rests_on_ties": True, "text": text}}
    (tmp_path / "t.json").write_text(json.dumps({"min_out": 2, "rules": {"null": {"frac": entry}}}))
    write_fig_gallery(tmp_path / "m.csv", tmp_path / "t.json", tmp_path / "index.npz", "digits", "mlp", {},
                      [tmp_path / "g.png"], PARAMS)  # fmt: skip
    assert (
        drawn["tie"] == f"τ rests on a tie: {text}" and "whether conf and lira memorize it" in drawn["title"]
    )
