"""A proxy audit's flag (memgen.proxies.flag): Eq. 3 on a proxy, by hand."""

import numpy as np
import pandas as pd
import pytest

from memgen.errors import MemgenError
from memgen.proxies.flag import flag


def table() -> pd.DataFrame:
    # 20 canaries with learning speeds 0.00 .. 0.19 (oriented: -0.00 .. -0.19); six natural points
    canary_speed = np.arange(20) / 100
    natural_speed = np.array([0.05, 0.2, 0.01, 0.0, 0.95, np.nan])
    speed = np.concatenate([canary_speed, natural_speed])
    return pd.DataFrame(
        {
            "index": np.arange(len(speed)),
            "canary": [True] * 20 + [False] * 6,
            "learning_speed": speed,
            "learning_speed_1": speed[::-1],
        }
    )


def test_a_natural_point_is_flagged_when_it_is_learned_as_slowly_as_all_but_alpha_of_the_canaries():
    """alpha 0.05 over 20 canaries: τ is the 19th smallest oriented score -speed (Hyndman-Fan type 1), -0.01:
    a natural point learned as slowly as 19 of the 20 canaries (speed <= 0.01) is flagged, ties included.
    Speeds 0.0 and 0.01 (a tie) pass; 0.05, 0.2, 0.95 and NaN do not."""
    flagged, tau = flag(table(), "learning_speed", "all", 0.05)
    assert tau == pytest.approx(-0.01)
    assert flagged["index"].tolist() == [23, 22]  # speed 0.0, then 0.01: most memorized first
    assert flagged["value"].tolist() == [0.0, 0.01] and flagged["at_tau"].tolist() == [False, True]
    looser, tau = flag(table(), "learning_speed", "all", 0.25)  # the 15th smallest: -0.05
    assert tau == pytest.approx(-0.05) and looser["index"].tolist() == [23, 22, 20]


def test_one_model_reads_its_own_column_and_an_unknown_proxy_fails_with_the_list():
    flagged, _ = flag(table(), "learning_speed", "1", 0.05)
    assert set(flagged["value"]) <= set(table()["learning_speed_1"])
    with pytest.raises(MemgenError, match="unknown proxy 'speed'.*learning_speed"):
        flag(table(), "speed", "all", 0.05)
