"""A finished study's files as Python objects, for notebooks and scripts: `memgen.open("results")`.

Each method reads one artifact (docs/artifacts.md) with the dtypes it means (file paths as text, empty where
a dataset has no files; flags as bool; counts as int), so no caller needs a CSV's reading quirks. A file that
is not there is a MemgenError naming it and the rule that makes it.

    study = memgen.open("results")
    study.runs()                      # [("digits", "mlp")]
    s = study.scores("rate0.95")      # the only (dataset, arch), else name them: dataset=, arch=
    study.memorized().head()
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from memgen import paths
from memgen.errors import fail

# the rule that writes each artifact (rules/*.smk), for the message when one is missing
RULES = {
    paths.SCORES: "scores",
    paths.FIT: "fitcheck",
    paths.THRESHOLDS: "thresholds",
    paths.FDR: "fdr",
    paths.MASKS: "masks",
    paths.MEMORIZED: "memorized",
    paths.INFLUENCE: "influence",
    paths.INFLUENCE_SUMMARY: "influence",
    paths.INFLUENCE_DUPLICATES: "influence_duplicates",
    paths.TABLE3_SPLIT: "table3_split",
    paths.TABLE3_CLASSES: "table3_classes",
    paths.DEFINITIONS: "definitions",
    paths.SAMPLING_BIAS: "sampling_bias",
    paths.STABILITY: "stability",
    paths.LOO: "loo",
    paths.TABLE1: "table1",
    paths.TABLE3: "table3",
    paths.MEMORIZED_REPLICATES: "memorized_replicates",
    paths.REPLICATE_OVERLAP: "replicate_overlap",
    paths.SUMMARY: "summary",
    paths.FIGURE: "the figure's fig_ rule",
}
BOOL_COLUMNS = (
    "canary", "high", "memorized", "at_tau", "conf_memorized", "lira_memorized", "null_memorized",
    "test_memorized", "evaluation_only", "cross_fitted", "configured", "significant_0.05",
)  # fmt: skip
TEXT_COLUMNS = ("path", "train_file", "test_file", "label_name", "predicted_instead_name", "train_label_name",
                "test_label_name", "class_name", "tie", "note", "setting", "holds")  # fmt: skip


class Study:
    """The results folder of a working directory (`root`: the folder, or the directory holding it)."""

    def __init__(self, root: str | Path = "results"):
        root = Path(root)
        if (root / "results").is_dir() and not any(root.glob("*/*/memorized.csv")):
            root = root / "results"
        if not root.is_dir():
            raise fail(f"{root} is not a folder", "give the results folder of a finished study (results/)")
        self.root = root
        self.workdir = root.parent

    def __repr__(self) -> str:
        runs = ", ".join(f"{d}/{a}" for d, a in self.runs()) or "no finished study"
        return f"Study({str(self.root)!r}: {runs})"

    # ---- what is here -----------------------------------------------------------------------------------
    def runs(self) -> list[tuple[str, str]]:
        """(dataset, arch) of every study with scores here (replicate r >= 2 as '<dataset>.rep<r>')."""
        found = {(p.parts[-4], p.parts[-3]) for p in self.root.glob("*/*/*/scores.csv")}
        return sorted(found)

    def ensembles(self, dataset: str | None = None, arch: str | None = None) -> list[str]:
        dataset, arch = self.which(dataset, arch)
        return sorted(p.parent.name for p in (self.root / dataset / arch).glob("*/scores.csv"))

    def which(self, dataset, arch) -> tuple[str, str]:
        runs = [r for r in self.runs() if dataset in (None, r[0]) and arch in (None, r[1])]
        if len(runs) != 1:
            have = ", ".join(f"{d}/{a}" for d, a in self.runs()) or "none"
            raise fail(
                f"{len(runs)} studies match dataset={dataset} arch={arch} in {self.root}",
                f"name one with dataset= and arch= (here: {have})",
            )
        return runs[0]

    def _path(self, template: str, dataset=None, arch=None, **wildcards) -> Path:
        if "{dataset}" in template:
            dataset, arch = self.which(dataset, arch)
            wildcards |= {"dataset": dataset, "arch": arch}
        rel = paths.fill(template, **wildcards)
        path = self.workdir / rel
        if not path.exists():
            rule = RULES.get(template, "its rule")
            raise fail(f"{path} does not exist", f"build it: snakemake {rel} (rule {rule})")
        return path

    # ---- per-point tables ---------------------------------------------------------------------------------
    def scores(self, ensemble: str, dataset=None, arch=None) -> pd.DataFrame:
        """A row per training point: label, canary, n_in, n_out, acc_in, acc_out, the scores, intervals."""
        return read_csv(self._path(paths.SCORES, dataset, arch, ens=ensemble))

    def memorized(self, dataset=None, arch=None) -> pd.DataFrame:
        """The all-fixes setup's memorized set (and the exact test's), highest score first."""
        return read_csv(self._path(paths.MEMORIZED, dataset, arch))

    def influence(self, dataset=None, arch=None, columns=None) -> pd.DataFrame:
        """The kept pairs (columns: read only these; at N = 60,000 the file can hold millions of rows)."""
        return read_csv(self._path(paths.INFLUENCE, dataset, arch), columns)

    def masks(self, ensemble: str, dataset=None, arch=None) -> np.ndarray:
        """bool [K, N]: member k trained on point i."""
        with np.load(self._path(paths.MASKS, dataset, arch, ens=ensemble)) as z:
            return z["mask"].astype(bool)

    # ---- summaries ---------------------------------------------------------------------------------------
    def thresholds(self, ensemble: str, dataset=None, arch=None) -> dict:
        return json.loads(self._path(paths.THRESHOLDS, dataset, arch, ens=ensemble).read_text())

    def fit(self, ensemble: str, dataset=None, arch=None) -> dict:
        return json.loads(self._path(paths.FIT, dataset, arch, ens=ensemble).read_text())

    def influence_summary(self, dataset=None, arch=None) -> dict:
        return json.loads(self._path(paths.INFLUENCE_SUMMARY, dataset, arch).read_text())

    def fdr(self, ensemble: str, dataset=None, arch=None) -> pd.DataFrame:
        return read_csv(self._path(paths.FDR, dataset, arch, ens=ensemble))

    def table1(self) -> pd.DataFrame:
        return read_csv(self._path(paths.TABLE1))

    def table3(self) -> pd.DataFrame:
        return read_csv(self._path(paths.TABLE3))

    def table3_classes(self, dataset=None, arch=None) -> pd.DataFrame:
        return read_csv(self._path(paths.TABLE3_CLASSES, dataset, arch))

    def table3_split(self, dataset=None, arch=None) -> pd.DataFrame:
        return read_csv(self._path(paths.TABLE3_SPLIT, dataset, arch))

    def proxies(self, dataset=None, arch=None) -> pd.DataFrame:
        """proxies.csv: every memorization proxy of every training point (one model and all)."""
        return read_csv(self._path(paths.PROXIES, dataset, arch))

    def proxies_validation(self, dataset=None, arch=None) -> pd.DataFrame:
        """proxies_validation.csv: each proxy against the reference ensemble, leave-one-out and canaries."""
        return read_csv(self._path(paths.PROXIES_VALIDATION, dataset, arch)).astype({"models": str})

    def replicate_overlap(self) -> pd.DataFrame:
        return read_csv(self._path(paths.REPLICATE_OVERLAP))

    def figure(self, name: str, ext: str = "png") -> Path:
        """The path of a figure, e.g. study.figure("gallery_digits_mlp")."""
        return self._path(paths.FIGURE, figure=name, ext=ext)


def read_csv(path, columns=None) -> pd.DataFrame:
    """A memgen CSV with its meaning's dtypes: text as str ('' where empty, never NaN), flags as bool;
    `columns`: read only these (influence.csv can hold millions of rows)."""
    header = list(pd.read_csv(path, nrows=0).columns)
    wanted = [c for c in header if columns is None or c in columns]
    text = [c for c in wanted if c in TEXT_COLUMNS]
    frame = pd.read_csv(
        path,
        usecols=wanted,
        keep_default_na=False,
        na_values={c: [""] for c in wanted if c not in TEXT_COLUMNS},
        dtype={c: str for c in text},
    )
    for col in wanted:
        if col in BOOL_COLUMNS:
            frame[col] = frame[col].map(_flag).astype("boolean")
            if not frame[col].isna().any():
                frame[col] = frame[col].astype(bool)
    return frame[wanted]


def _flag(x):
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if x in ("", None) or (isinstance(x, float) and np.isnan(x)):
        return pd.NA
    return str(x).strip().lower() in ("true", "1", "1.0")


def open_study(root: str | Path = "results") -> Study:
    return Study(root)
