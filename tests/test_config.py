"""Config validation: the shipped config passes; each bad input fails with one message naming the key
and a fix; training overrides stay sparse and resolve global < dataset < architecture < ensemble."""

import copy
from pathlib import Path

import pytest
import yaml

from memgen import config as mc
from memgen.errors import MemgenError

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((ROOT / "config.yaml").read_text())


def edited(change) -> dict:
    c = copy.deepcopy(BASE)
    change(c)
    return c


def error_of(change) -> str:
    with pytest.raises(MemgenError) as e:
        mc.validate(edited(change))
    return str(e.value)


def test_shipped_configs_pass():
    c = mc.validate(copy.deepcopy(BASE))
    # defaults filled where config.yaml is silent
    assert c["datasets"]["digits"]["image_size"] == 32 and c["threshold"]["tail"] == "upper"
    assert c["ensembles"]["rate0.7"]["training"] == {}
    tiny = yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text())
    mc.validate(tiny)


def test_unknown_key_top_level():
    msg = error_of(lambda c: c.update(sed=1))
    assert "unknown key ['sed'] under (top level)" in msg and "Fix:" in msg and "seed" in msg.split("Fix:")[1]


@pytest.mark.parametrize(
    "change,where,typo",
    [
        (lambda c: c["training"].update(epoch=3), "under training", "epoch"),
        (
            lambda c: c["ensembles"]["rate0.7"].update(training={"wd": 1}),
            "under ensembles.rate0.7.training",
            "wd",
        ),
        (
            lambda c: c["datasets"]["digits"]["archs"].update(mlp={"hiden": 3}),
            "datasets.digits.archs.mlp",
            "hiden",
        ),
        (lambda c: c["ensembles"]["rate0.7"].update(member=64), "under ensembles.rate0.7", "member"),
        (lambda c: c["threshold"].update(alfa=0.1), "under threshold", "alfa"),
    ],
)
def test_unknown_key_nested(change, where, typo):
    msg = error_of(change)
    assert f"unknown key ['{typo}']" in msg and where in msg
    assert "Fix: fix the spelling or remove it (allowed keys here:" in msg


def test_wrong_type():
    msg = error_of(lambda c: c["training"].update(epochs="ten"))
    assert "training.epochs = 'ten'" in msg and "not of type 'integer'" in msg
    problem, fix = msg.split("Fix:")
    assert "training.epochs" in fix  # the fix says which key to change, not only what it means
    assert "training.flip" in error_of(lambda c: c["training"].update(flip="yes"))


@pytest.mark.parametrize("rate", [0.0, 1.0, 1.2, -0.5])
def test_rate_outside_unit_interval(rate):
    msg = error_of(lambda c: c["ensembles"]["rate0.7"].update(rate=rate))
    assert f"ensembles.rate0.7.rate = {rate!r}" in msg and "Fix:" in msg


def test_members_not_multiple_of_block_size():
    msg = error_of(lambda c: c["ensembles"]["rate0.7"].update(members=96))
    assert "ensembles.rate0.7" in msg and "members = 96" in msg and "masks.block_size = 64" in msg
    assert "64 members or 128 members" in msg


def test_shard_size_zero():
    msg = error_of(lambda c: c.update(shard_size=0))
    assert "shard_size = 0" in msg and "Fix:" in msg
    # check() alone (cross-key rules) names it too, instead of dividing by zero
    c = mc.validate(copy.deepcopy(BASE))
    c["shard_size"] = 0
    with pytest.raises(MemgenError, match="shard_size = 0 must be at least 1"):
        mc.check(c)


def test_shard_size_must_divide_the_block_size():
    msg = error_of(lambda c: c.update(shard_size=48))
    assert "shard_size = 48 does not divide masks.block_size = 64" in msg
    assert "Fix: use one of 1, 2, 4, 8, 16, 32, 64" in msg


def test_members_override_per_dataset():
    msg = error_of(lambda c: c["datasets"]["digits"].update(members={"rate0.7": 100}))
    assert "members = 100" in msg and "(digits)" in msg
    msg = error_of(lambda c: c["datasets"]["digits"].update(members={"rate9": 64}))
    assert "datasets.digits.members names unknown ensemble 'rate9'" in msg


@pytest.mark.parametrize(
    "change,problem,fix",
    [
        (
            lambda c: c["datasets"]["digits"].update(kind="nonsense"),
            "config: datasets.digits.kind = 'nonsense' is invalid: no dataset kind has that name",
            "use one of ",
        ),
        (  # no kind: the name is the kind
            lambda c: c["datasets"].update(mnist={"archs": {"mlp": {}}}),
            "config: datasets.mnist has no kind, and its name is not a dataset kind",
            "set datasets.mnist.kind to one of ",
        ),
    ],
)
def test_unknown_dataset_kind_names_the_known_ones(change, problem, fix):
    """One line with every kind of memgen.kinds (the one list: the schema has none of its own)."""
    from memgen.kinds import KINDS

    msg = error_of(change)
    assert "\n" not in msg and msg.startswith(problem) and f"Fix: {fix}" in msg
    assert ", ".join(KINDS) in msg.split("Fix:")[1]
    schema = yaml.safe_load(mc.SCHEMA.read_text())
    assert "enum" not in schema["$defs"]["dataset"]["properties"]["kind"]


def test_the_kinds_derive_from_one_table():
    from memgen import kinds

    derived = (kinds.BUNDLED, kinds.FOLDER_KINDS, kinds.IDX_KINDS, tuple(kinds.CIFAR_FOLDERS))
    assert sorted(k for group in derived for k in group) == sorted(kinds.KINDS)  # each kind in one group
    assert kinds.FOLDER_KINDS == ("imagenet", "imagefolder") and kinds.BUNDLED == ("digits", "longtail")
    assert kinds.SUBSET_KINDS == ("fashion_mnist",) and kinds.kind_of("cifar10", {}) == "cifar10"
    for kind in kinds.KINDS:  # every kind validates, named or as the dataset's name
        mc.validate(edited(lambda c, k=kind: c["datasets"]["digits"].update(kind=k)))


def test_unknown_arch():
    msg = error_of(lambda c: c["datasets"]["digits"]["archs"].update(resnet19={}))
    assert "datasets.digits.archs has unknown architecture 'resnet19'" in msg and "resnet18" in msg


def test_ablation_ensemble_missing():
    msg = error_of(lambda c: c["ensembles"].pop("rate0.7"))
    assert "ablation.baseline = 'rate0.7' is not an ensemble" in msg and "rate0.95" in msg
    msg = error_of(lambda c: c["ablation"].update(high_rate="rate0.99"))
    assert "ablation.high_rate = 'rate0.99'" in msg
    msg = error_of(lambda c: c["analysis"].update(reference="nope"))
    assert "analysis.reference = 'nope'" in msg


def test_ablation_definition():
    assert mc.validate(copy.deepcopy(BASE))["ablation"]["definition"] == "frac"
    no_key = edited(lambda c: c["ablation"].pop("definition", None))
    assert mc.validate(no_key)["ablation"]["definition"] == "frac"  # the schema default
    assert (
        mc.validate(edited(lambda c: c["ablation"].update(definition="lira")))["ablation"]["definition"]
        == "lira"
    )
    msg = error_of(lambda c: c["ablation"].update(definition="LiRA"))
    assert "ablation.definition = 'LiRA' is invalid" in msg and "['fz', 'frac', 'conf', 'lira']" in msg
    assert "Fix:" in msg


def test_utility_seeds_not_multiple_of_shard_size():
    msg = error_of(lambda c: c["utility"].update(seeds=30, shard_size=20))
    assert "30 utility seeds for digits is not a multiple of utility.shard_size = 20" in msg
    assert "use 20 or 40 seeds" in msg
    msg = error_of(lambda c: c["datasets"]["digits"].update(utility_seeds=25))
    assert "25 utility seeds for digits" in msg
    mc.validate(edited(lambda c: c["utility"].update(seeds=40, shard_size=20)))


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5])
def test_alpha_out_of_range(alpha):
    msg = error_of(lambda c: c["threshold"].update(alpha=alpha))
    assert f"threshold.alpha = {alpha!r}" in msg and "Fix:" in msg


@pytest.mark.parametrize("fraction", [1.0, 1.5, -0.1])
def test_canary_fraction_out_of_range(fraction):
    msg = error_of(lambda c: c["canaries"].update(fraction=fraction))
    assert f"canaries.fraction = {fraction!r}" in msg


def test_missing_required_key():
    msg = error_of(lambda c: c["ensembles"]["rate0.7"].pop("rate"))
    assert "ensembles.rate0.7 lacks 'rate'" in msg and "Fix:" in msg


def test_overrides_stay_sparse():
    c = mc.validate(copy.deepcopy(BASE))
    # the ensemble override holds only the key it sets: schema defaults are not filled into it
    assert c["ensembles"]["rate0.5-wd0.002"]["training"] == {"weight_decay": 0.002}
    assert c["datasets"]["digits"]["archs"]["mlp"] == {} and c["datasets"]["digits"]["training"] == {}
    base = mc.training(c, "digits", "mlp", "rate0.5")
    wd = mc.training(c, "digits", "mlp", "rate0.5-wd0.002")
    assert {k for k in base if base[k] != wd[k]} == {"weight_decay"}
    assert wd["weight_decay"] == 0.002 and base["weight_decay"] == 0.001  # config.yaml's, not the schema's
    assert base["lr_peak"] == 0.2 and base["epochs"] == 60
    assert mc.training(c, "digits", "mlp") == base  # utility runs: no ensemble layer
    assert mc.weight_decay(c, "digits", "mlp", "rate0.5-wd0.0005") == 0.0005


def test_override_layers_in_order():
    def change(c):
        c["training"] = {"epochs": 5}  # the rest from the schema's defaults
        c["datasets"]["digits"]["training"] = {"epochs": 7, "batch_size": 64}
        c["datasets"]["digits"]["archs"]["mlp"] = {"batch_size": 32, "model": {"hidden": 8}}
        c["ensembles"]["rate0.7"]["training"] = {"model": {"hidden": 4}}

    c = mc.validate(edited(change))
    t = mc.training(c, "digits", "mlp", "rate0.7")
    assert (t["epochs"], t["batch_size"], t["model"]) == (7, 32, {"hidden": 4})
    assert t["lr_peak"] == 0.1 and t["weight_decay"] == 0.0005  # schema defaults fill the global recipe
    assert mc.training(c, "digits", "mlp", "rate0.5")["model"] == {"hidden": 8}


def test_stable_seed_and_reference():
    c = mc.validate(copy.deepcopy(BASE))
    a = mc.stable_seed(c, "digits", "mlp", 3)
    assert a == mc.stable_seed(c, "digits", "mlp", 3) and a != mc.stable_seed(c, "digits", "mlp", 4)
    assert 0 <= a < 2**31
    c["seed"] = 1
    assert mc.stable_seed(c, "digits", "mlp", 3) != a
    c["analysis"].pop("reference")
    assert mc.reference(c) == "rate0.95"  # the highest rate


def _folder(c, **entry):
    c["datasets"]["mine"] = {"kind": "imagefolder", "archs": {"cnn": {}}, **entry}


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c["datasets"]["digits"].update(loader="stream"), "digits is not an image folder"),
        (lambda c: c["training"].update(random_resized_crop=True), "random_resized_crop is on for digits"),
        (
            lambda c: _folder(c, loader="memory", training={"random_resized_crop": True}),
            "datasets.mine.loader is memory, but its recipe has random_resized_crop",
        ),
        (lambda c: _folder(c, loader="disk"), "datasets.mine.loader"),
    ],
)
def test_loader_settings_that_cannot_work(change, expected):
    msg = error_of(change)
    assert expected in msg and "Fix:" in msg


def test_loader_keys_are_run_only():
    c = mc.validate(edited(lambda c: _folder(c, loader="stream", loader_workers=3, gpu_decode=False)))
    assert not {"loader", "loader_workers", "gpu_decode", "min_side"} & set(mc.loader_spec(c, "mine"))
    assert mc.loader_run(c, "mine") == {"loader": "stream", "loader_workers": 3, "gpu_decode": False}
    assert mc.min_side(c, "mine") == 4  # image_size 32 / 8


def test_fitcheck_overrides_per_dataset_and_the_memorized_share():
    c = mc.validate(
        edited(
            lambda c: c["fitcheck"].update(datasets={"digits": {"min_train_acc": 0.5, "archs": {"mlp": {}}}})
        )
    )
    assert c["fitcheck"]["datasets"]["digits"] == {"min_train_acc": 0.5, "archs": {"mlp": {}}}  # kept sparse
    assert mc.validate(copy.deepcopy(BASE))["threshold"]["max_memorized_share"] == 0.5
    msg = error_of(lambda c: c["fitcheck"].update(datasets={"digits": {"min_train_accuracy": 0.5}}))
    assert "unknown key ['min_train_accuracy'] under fitcheck.datasets.digits" in msg
    msg = error_of(
        lambda c: c["fitcheck"].update(datasets={"digits": {"archs": {"mlp": {"min_train_acc": 2}}}})
    )
    assert "fitcheck.datasets.digits.archs.mlp.min_train_acc = 2" in msg and "Fix:" in msg
    for share in (0, 1.5):
        assert f"threshold.max_memorized_share = {share}" in error_of(
            lambda c, share=share: c["threshold"].update(max_memorized_share=share)
        )


def test_the_paper_config_passes_and_expects_less_of_imagenet():
    paper = mc.validate(yaml.safe_load((ROOT / "configs" / "paper.yaml").read_text()))
    overrides = paper["fitcheck"]["datasets"]
    assert set(overrides) <= set(paper["datasets"]) and overrides["imagenet"]["min_train_acc"] < 0.9
    assert paper["threshold"]["max_memorized_share"] == 0.5
