"""The ablation's variants: ablation.definition picks the "all fixes" variant's definition, and only its."""

from memgen.paths import parse_removal_id
from memgen.variants import VARIANTS, definition, removal_id, removal_ids

CONFIG = {"ablation": {"baseline": "rate0.7", "high_rate": "rate0.95", "table3": "all"}}


def with_definition(name):
    return {"ablation": {**CONFIG["ablation"], "definition": name}}


def test_all_takes_the_configured_definition():
    assert definition(CONFIG, "all") == "frac"  # the paper's (Eq. 2) when the key is absent
    assert removal_id(with_definition("lira"), "all") == "rate0.95-lira-null"
    assert parse_removal_id("rate0.95-conf-null") == ("rate0.95", "conf", "null")


def test_other_variants_keep_their_removal_sets():
    # their removal ids (and so their utility runs) do not change with ablation.definition
    others = [v for v in VARIANTS if v != "all"]
    assert [removal_id(CONFIG, v) for v in others] == [removal_id(with_definition("conf"), v) for v in others]
    assert set(removal_ids(with_definition("conf"))) - set(removal_ids(CONFIG)) == {"rate0.95-conf-null"}
