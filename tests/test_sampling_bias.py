import math

import pandas as pd
import pytest

from memgen.errors import MemgenError
from memgen.sampling_bias import COLUMNS, sampling_bias

NAN = math.nan


def ens(fz, frac, canary=(0, 0, 0, 1)):
    return pd.DataFrame({"canary": canary, "fz": fz, "frac": frac})


REF = ens([0.5, 0.2, NAN, 0.9], [0.5, 0.4, NAN, 1.0])  # point 2 unscored in the reference
A = ens([0.7, 0.1, 0.3, 0.0], [0.5, 0.1, 0.2, 0.0])
B = ens([0.5, 0.2, 0.1, 0.5], [0.5, NAN, 0.1, 0.5])


def test_sampling_bias_by_hand():
    df = sampling_bias(
        {"rate0.95": REF, "rate0.5": A, "rate0.1": B},
        {"rate0.95": 0.95, "rate0.5": 0.5, "rate0.1": 0.1},
        "rate0.95",
    )
    assert list(df.columns) == COLUMNS
    # ordered by rate; the reference gets no row
    assert df[["ensemble", "definition"]].values.tolist() == [
        ["rate0.1", "fz"],
        ["rate0.1", "frac"],
        ["rate0.5", "fz"],
        ["rate0.5", "frac"],
    ]
    row = df.set_index(["ensemble", "definition"])
    # A fz: natural points scored in both are 0 and 1 (2 is NaN in the reference, 3 is a canary whose
    # error .9 must not count): |.7 - .5| = .2, |.1 - .2| = .1 -> mean .15, sample std sqrt(2 * .05^2 / 1)
    a = row.loc[("rate0.5", "fz")]
    assert (a["rate"], a["n_points"]) == (0.5, 2)
    assert a["mae"] == pytest.approx(0.15) and a["std_abs_error"] == pytest.approx(math.sqrt(0.005))
    # A frac: |0|, |.1 - .4| = .3 -> mean .15, std sqrt(2 * .15^2) = .2121
    a = row.loc[("rate0.5", "frac")]
    assert a["mae"] == pytest.approx(0.15) and a["std_abs_error"] == pytest.approx(math.sqrt(0.045))
    # B fz equals the reference on points 0 and 1
    b = row.loc[("rate0.1", "fz")]
    assert (b["mae"], b["std_abs_error"], b["n_points"]) == (0.0, 0.0, 2)
    # B frac: point 1 unscored in B -> only point 0 (error 0): std undefined with one point
    b = row.loc[("rate0.1", "frac")]
    assert b["n_points"] == 1 and b["mae"] == 0.0 and math.isnan(b["std_abs_error"])


def test_no_common_point_gives_nan_not_a_crash():
    empty = ens([NAN] * 4, [NAN] * 4)
    df = sampling_bias({"ref": REF, "e": empty}, {"ref": 0.95, "e": 0.3}, "ref")
    assert df["n_points"].tolist() == [0, 0] and df["mae"].isna().all()


def test_missing_reference_or_rate_or_other_canaries_is_a_user_error():
    with pytest.raises(MemgenError, match="reference ensemble 'rate0.95'"):
        sampling_bias({"rate0.5": A}, {"rate0.5": 0.5}, "rate0.95")
    with pytest.raises(MemgenError, match="no sampling rate"):
        sampling_bias({"ref": REF, "a": A}, {"ref": 0.95}, "ref")
    with pytest.raises(MemgenError, match="other canaries"):
        sampling_bias(
            {"ref": REF, "a": ens(A["fz"], A["frac"], (1, 0, 0, 0))}, {"ref": 0.95, "a": 0.5}, "ref"
        )
