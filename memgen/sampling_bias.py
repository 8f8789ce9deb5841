"""Sampling bias (paper §3.1, Fig. 1 and 6): how far each point's score at rate r is from the
reference ensemble's (rate 0.95, close to leave-one-out)."""

import math

import numpy as np
import pandas as pd

from memgen.errors import fail
from memgen.scores import DEFINITIONS
from memgen.thresholds import check_columns

COLUMNS = ["ensemble", "rate", "definition", "mae", "std_abs_error", "n_points"]


def sampling_bias(scores: dict[str, pd.DataFrame], rates: dict[str, float], reference: str) -> pd.DataFrame:
    """One row per non-reference ensemble and definition: mean (and sample std) of |s_r(i) − s_ref(i)|.

    Natural points only: canaries are planted label noise whose scores form the null, not scores of
    the dataset the study is about. A point counts when its score is defined (n_in ≥ 1 and n_out ≥ 1)
    in both ensembles. Rows are ordered by rate, then ensemble name, then definition (fz, frac).
    """
    if reference not in scores:
        raise fail(
            f"reference ensemble {reference!r} is not among the scored ensembles {sorted(scores)}",
            "add the reference ensemble to the sampling-bias inputs or name one that is there",
        )
    missing = [name for name in scores if name not in rates]
    if missing:
        raise fail(f"ensembles {missing} have no sampling rate", "pass a rate for every ensemble")
    ref = scores[reference]
    check_columns(ref, ("canary", *DEFINITIONS))
    rows = []
    for name in sorted((n for n in scores if n != reference), key=lambda n: (rates[n], n)):
        table = scores[name]
        check_columns(table, ("canary", *DEFINITIONS))
        if len(table) != len(ref) or not np.array_equal(
            table["canary"].to_numpy().astype(int), ref["canary"].to_numpy().astype(int)
        ):
            raise fail(
                f"ensemble {name!r} scores {len(table)} points with other canaries than the reference "
                f"{reference!r} ({len(ref)} points)",
                "score both ensembles on the same dataset and canaries.npz",
            )
        natural = ref["canary"].to_numpy().astype(int) == 0
        for definition in DEFINITIONS:
            error = table[definition].to_numpy(dtype=float) - ref[definition].to_numpy(dtype=float)
            abs_error = np.abs(error[natural & ~np.isnan(error)])
            n = int(abs_error.size)
            rows.append(
                {
                    "ensemble": name,
                    "rate": float(rates[name]),
                    "definition": definition,
                    "mae": float(abs_error.mean()) if n else math.nan,
                    "std_abs_error": float(abs_error.std(ddof=1)) if n > 1 else math.nan,
                    "n_points": n,
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
