"""The rules' side of memgen.workflow, without Snakemake: `wildcards_to` hands a job's wildcards to a planning
function as Snakemake expects of an input or params function, and `share_profile_resources` gives the
profile's settings of `members` to the slice rules, or stops planning with one message."""

import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import memgen.config as mc
from memgen import params as mp
from memgen import paths
from memgen.errors import MemgenError
from memgen.workflow import share_profile_resources, wildcards_to

ROOT = Path(__file__).resolve().parents[1]
BASE = mc.validate(yaml.safe_load((ROOT / "config.yaml").read_text()))


def job(**wildcards):
    """A job's wildcards as Snakemake hands them: attributes, every value a string."""
    return SimpleNamespace(**{k: str(v) for k, v in wildcards.items()})


def test_the_function_calls_the_planning_function_with_the_wildcards():
    member = wildcards_to(mp.member, "dataset", "arch", "ens", config=BASE)
    w = job(dataset="digits", arch="mlp", ens="rate0.5", block=3)  # a wildcard it does not take: ignored
    assert member(w) == mp.member(BASE, "digits", "mlp", "rate0.5")
    gallery = wildcards_to(paths.gallery_inputs, "dataset", "arch", removal="rate0.95-frac-null")
    assert gallery(w) == paths.gallery_inputs("digits", "mlp", "rate0.95-frac-null")


def test_a_numeric_wildcard_is_converted_where_asked():
    loo = wildcards_to(mp.loo_removed, "dataset", "arch", "stratum", ("group", int), config=BASE)
    got = loo(job(dataset="digits", arch="mlp", stratum="random", group=1))  # loo.random: 64 points
    assert got == mp.loo_removed(BASE, "digits", "mlp", "random", 1) and got["first"] == paths.POINTS_PER_JOB
    shard = wildcards_to(mp.utility_runs, "dataset", "arch", ("shard", int), config=BASE)
    size = BASE["utility"]["shard_size"]
    assert shard(job(dataset="digits", arch="mlp", shard=2))["seed_ids"] == list(range(2 * size, 3 * size))


def test_snakemake_sees_a_named_function_of_the_wildcards_alone():
    """Snakemake passes a function the arguments its signature names (input, output, threads, ...): the
    planning function's own signature (config, dataset, ...) must not show through (no functools.wraps)."""
    f = wildcards_to(mp.fitcheck, "dataset", "arch", config=BASE)
    assert list(inspect.signature(f).parameters) == ["wildcards"]
    assert f.__name__ == "fitcheck" and "memgen.params.fitcheck" in f.__qualname__
    assert not hasattr(f, "__wrapped__")


@pytest.mark.parametrize(
    "names,fixed",
    [
        (("dataset", "arch"), {"config": {}}),  # ens missing
        (("dataset", "arch", "ensemble"), {"config": {}}),  # no such parameter
        (("dataset", "arch", "ens"), {}),  # config missing
    ],
)
def test_a_wrong_wildcard_list_fails_when_the_rules_are_read(names, fixed):
    with pytest.raises(TypeError, match=r"wildcards_to\(member"):
        wildcards_to(mp.member, *names, **fixed)


def test_profile_resources_reach_the_slice_rules():
    gpu, threads = {"gpu": 1}, 2
    settings = SimpleNamespace(
        _parsed_overwrite_resources={"members": gpu, "members_32": {"gpu": 2}},
        _parsed_overwrite_threads={"members": threads},
    )
    share_profile_resources(
        SimpleNamespace(resource_settings=settings), "members", ["members_0", "members_32"]
    )
    assert settings._parsed_overwrite_resources["members_0"] == gpu
    assert settings._parsed_overwrite_resources["members_32"] == {"gpu": 2}  # named in the profile: kept
    assert settings._parsed_overwrite_threads == {"members": 2, "members_0": 2, "members_32": 2}


@pytest.mark.parametrize(
    "workflow",
    [
        SimpleNamespace(),  # no resource_settings
        SimpleNamespace(resource_settings=SimpleNamespace(_parsed_overwrite_threads={})),
        SimpleNamespace(
            resource_settings=SimpleNamespace(_parsed_overwrite_resources=(), _parsed_overwrite_threads={})
        ),
    ],
)
def test_a_snakemake_shaped_otherwise_stops_planning(workflow):
    with pytest.raises(MemgenError, match=r"members_0.*Fix: use the Snakemake of requirements.lock"):
        share_profile_resources(workflow, "members", ["members_0"])
