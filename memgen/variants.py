"""The ablation's variants (paper section 5) and the removal sets they share.

A variant = (score ensemble, definition, threshold rule, test set). Variants that differ only in the test
set share one removal set and so one set of utility runs; only their evaluation differs.
"""

VARIANTS = {
    # name: (ensemble role, definition, threshold rule, test set role)
    "baseline": ("baseline", "fz", "fixed", "original"),  # Feldman & Zhang: rate 0.7, Eq. 1, fz > 0.25
    "frac": ("baseline", "frac", "fixed", "original"),  # + fractional difference (Eq. 2)
    "dedup": ("baseline", "fz", "fixed", "clean"),  # + leakage-free test set
    "rate": ("high_rate", "fz", "fixed", "original"),  # + 0.95 sampling rate
    # named "principled", not "null": pandas reads the word null in a CSV as a missing value
    "principled": ("baseline", "fz", "null", "original"),  # + principled (null) threshold, Eq. 3
    "all": ("high_rate", "frac", "null", "clean"),  # all four fixes; definition: config ablation.definition
    # all fixes, with the exact test at a stated false-discovery rate (memgen.scores.fdr) instead of Eq. 3;
    # the test reads counts, so its set is one under fz and frac: named by frac, whatever ablation.definition
    "test": ("high_rate", "frac", "test", "clean"),
}
LABELS = {
    "baseline": "Baseline (Feldman and Zhang setup)",
    "frac": "+ Fractional difference",
    "dedup": "+ De-duplicated test",
    "rate": "+ High sampling rate",
    "principled": "+ Principled (null) threshold",
    "all": "All components changed",
    "test": "All components, exact test (BH) instead of Eq. 3",
}


def ensemble(config: dict, variant: str) -> str:
    return config["ablation"][VARIANTS[variant][0]]


def definition(config: dict, variant: str) -> str:
    """The definition a variant scores with. "all" takes `ablation.definition` (default frac, Eq. 2) and so
    may be a continuous one (conf, lira); every other variant is the paper's, fixed in VARIANTS."""
    if variant == "all":
        return config.get("ablation", {}).get("definition", VARIANTS["all"][1])
    return VARIANTS[variant][1]


def removal_id(config: dict, variant: str) -> str:
    """Name of the removal set a variant uses, e.g. 'rate0.7-fz-fixed' (a path component, read back by
    memgen.paths.parse_removal_id)."""
    _, _, rule, _ = VARIANTS[variant]
    return f"{ensemble(config, variant)}-{definition(config, variant)}-{rule}"


def test_set(config: dict, dataset: str, variant: str) -> str:
    """The test set a variant is evaluated on. 'clean' means the new leakage-free test set where the
    dataset has one (CIFAR-10.1), else the original minus listed duplicates ('dedup')."""
    role = VARIANTS[variant][3]
    if role == "original":
        return "original"
    new = config["datasets"][dataset].get("new_test_set")
    # The "+ de-duplicated test" variant is literally de-duplication; "all" (and "test", its twin with the
    # exact test) uses the best test set available.
    return new.get("name", "cifar10.1") if (new and variant != "dedup") else "dedup"


def removal_ids(config: dict) -> list[str]:
    return sorted({removal_id(config, v) for v in VARIANTS})


# What every removal set's utility runs remove: the memorized set, and as many uniformly random points (the
# paper's control, Table 1's and Table 3's).
CONDITIONS = ("memorized", "random")
CLASS_MATCHED = "random_class"


def trains_class_matched(config: dict, removal: str) -> bool:
    """Whether a removal set trains the class-matched control: only Table 3's (`ablation.table3`'s) set,
    the only one whose class-matched runs anything reads (docs/decisions.md)."""
    return removal == removal_id(config, config["ablation"]["table3"])


def run_conditions(config: dict, removal: str) -> tuple[str, ...]:
    """The utility-run conditions (memgen.paths.UTILITY_CONDITIONS) a removal set trains."""
    return CONDITIONS + ((CLASS_MATCHED,) if trains_class_matched(config, removal) else ())
