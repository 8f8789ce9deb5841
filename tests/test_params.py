"""What rules depend on (memgen.params) and where files live (memgen.paths), tested without Snakemake:
run-only settings stay out of params, a setting reaches only the rules that read it, and every artifact's
and log's path is written once (tests/test_glue.py: the functions that hand them to the rules)."""

import copy
import re
from pathlib import Path

import pytest
import yaml

import memgen.config as mc
from memgen import params as mp
from memgen import paths
from memgen.errors import MemgenError
from memgen.variants import removal_id, removal_ids, run_conditions

ROOT = Path(__file__).resolve().parents[1]
BASE = mc.validate(yaml.safe_load((ROOT / "config.yaml").read_text()))
RUN_ONLY = ("shard_size", "checkpoint_every", "batched", "compile", "concurrent_members", "loader_workers")


def edited(change) -> dict:
    c = copy.deepcopy(BASE)
    change(c)
    return mc.validate(c)


def keys(value) -> set[str]:
    """Every key of a nested params value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    return set()


def with_folder(c):
    c["datasets"]["mine"] = {"kind": "imagefolder", "root": "/nowhere", "archs": {"mlp": {}}}
    c["datasets"]["mine"].update(loader="stream", loader_workers=4, gpu_decode=False)


def test_member_params_hold_no_run_only_key_and_ignore_run_only_settings():
    c = edited(with_folder)
    member = mp.member(c, "mine", "mlp", "rate0.5")
    assert not keys(member) & set(RUN_ONLY), keys(member)
    assert not set(member["loader"]) & set(mc.LOADER_RUN_ONLY)  # how a folder is read, not which images
    # Snakemake compares the params' repr: the key order is part of the value
    assert list(member) == ["training", "loader", "masks", "seed", "full_logits"]

    def run_only(c):
        with_folder(c)
        c["shard_size"] = 16
        c["training"].update(checkpoint_every=3, batched=False, concurrent_members=2)
        c["datasets"]["mine"].update(loader="memory", loader_workers=1, gpu_decode=True)

    assert mp.member(edited(run_only), "mine", "mlp", "rate0.5") == member


def test_utility_params_seeds_are_those_of_the_shard():
    size = BASE["utility"]["shard_size"]
    p = mp.utility_runs(BASE, "digits", "mlp", 1)
    assert p["seed_ids"] == list(range(size, 2 * size))
    assert p["seeds"] == [mc.stable_seed(BASE, "digits", "mlp", "utility", s) for s in p["seed_ids"]]
    assert len(set(p["seeds"])) == size and not set(p["seeds"]) & set(
        mp.utility_runs(BASE, "digits", "mlp", 0)["seeds"]
    )


def test_a_utility_setting_reaches_utility_rules_and_no_member():
    def utility(c):
        c["utility"].update(seeds=40, duplicate_threshold=0.9)

    c = edited(utility)
    for ens in BASE["ensembles"]:
        assert mp.member(c, "digits", "mlp", ens) == mp.member(BASE, "digits", "mlp", ens)
    assert mp.removal(c, "digits", "mlp", "rate0.7-fz-fixed") != mp.removal(
        BASE, "digits", "mlp", "rate0.7-fz-fixed"
    )
    assert mp.variant(c, "digits", "original", ("memorized", "random")) == {
        "test_set": "original",
        "seeds": 40,
        "conditions": ["memorized", "random"],
    }


def _run_lists(c) -> dict[str, list[str]]:
    """Every removal set's utility runs, as the utility rule lists them (rules/common.smk variant_runs)."""
    return {r: paths.utility_runs(c, "digits", "mlp", r, run_conditions(c, r)) for r in removal_ids(c)}


def test_only_table3s_removal_set_trains_the_class_matched_control():
    tiny = mc.validate(yaml.safe_load((ROOT / "tests" / "configs" / "tiny.yaml").read_text()))
    for c in (BASE, tiny):
        runs = _run_lists(c)
        seeds = mc.utility_seeds(c, "digits")
        table3 = removal_id(c, c["ablation"]["table3"])
        condition = {r: {Path(p).parts[-4] for p in files} for r, files in runs.items()}
        assert {r for r, cs in condition.items() if "random_class" in cs} == {table3}
        assert all(cs >= {"memorized", "random"} for cs in condition.values())
        assert sum(map(len, runs.values())) == seeds * (2 * len(runs) + 1)  # 13 x seeds, not 18 x seeds
    # another Table 3 setting moves the class-matched runs to its set and leaves every other run, removal
    # set and utility-run job as it was; only the two sets' utility tables are re-evaluated
    moved = edited(lambda c: c["ablation"].update(table3="principled"))
    before, after = _run_lists(BASE), _run_lists(moved)
    old, new = removal_id(BASE, "all"), removal_id(moved, "principled")
    assert set(after[new]) - set(before[new]) == {p for p in after[new] if "/random_class/" in p}
    assert set(before[old]) - set(after[old]) == {p for p in before[old] if "/random_class/" in p}
    assert all(before[r] == after[r] for r in before if r not in (old, new))
    for r in removal_ids(BASE):
        assert mp.removal(moved, "digits", "mlp", r) == mp.removal(BASE, "digits", "mlp", r)
    assert mp.utility_runs(moved, "digits", "mlp", 0) == mp.utility_runs(BASE, "digits", "mlp", 0)
    assert run_conditions(moved, old) == ("memorized", "random") == run_conditions(BASE, new)


def test_an_ensemble_setting_reaches_its_own_members_only():
    c = edited(lambda c: c["ensembles"]["rate0.5"].update(rate=0.6))
    assert mp.member(c, "digits", "mlp", "rate0.5") != mp.member(BASE, "digits", "mlp", "rate0.5")
    assert mp.member(c, "digits", "mlp", "rate0.7") == mp.member(BASE, "digits", "mlp", "rate0.7")
    assert mp.loo_model(c, "digits", "mlp") == mp.loo_model(
        BASE, "digits", "mlp"
    )  # the reference is rate0.95


def test_index_params_add_the_files_and_min_side_of_an_image_folder(tmp_path):
    digits = mp.index(BASE, "digits")
    assert digits["files"] == "" and "min_side" not in digits  # bundled: nothing on disk to watch
    c = edited(with_folder)
    c["datasets"]["mine"]["root"] = str(tmp_path)
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "train" / "cat" / "a.png").write_bytes(b"x")
    folder = mp.index(c, "mine")
    assert folder["files"] and folder["min_side"] == mc.min_side(c, "mine") and "loader_workers" not in folder


def test_loo_jobs_cover_each_stratum_in_fixed_positions():
    c = edited(lambda c: c["loo"].update(random=2 * paths.POINTS_PER_JOB + 1))
    last = mp.loo_removed(c, "digits", "mlp", "random", 2)
    assert (last["first"], last["last"]) == (2 * paths.POINTS_PER_JOB, 2 * paths.POINTS_PER_JOB + 1)
    assert "random_seed" in last and "random_seed" not in mp.loo_removed(c, "digits", "mlp", "top", 0)
    with pytest.raises(ValueError, match="has no job 3"):
        mp.loo_removed(c, "digits", "mlp", "random", 3)
    jobs = paths.loo_inputs(c, "digits", "mlp", "plan.json", run=True)["random"]
    assert jobs[-1] == "results/digits/mlp/loo/random/2.npz"


def test_the_b_ranked_top_stratum_adds_jobs_and_leaves_the_others_params_alone():
    """top_b: loo.top points ranked by half B, its own jobs beside top's; the top and random jobs' params
    are what they were before it (no existing leave-one-out model retrains)."""
    c = edited(lambda c: c["loo"].update(top=paths.POINTS_PER_JOB + 1, random=3))
    top, top_b = (mp.loo_removed(c, "digits", "mlp", s, 1) for s in ("top", "top_b"))
    assert top_b == {**top, "stratum": "top_b"} and (top_b["first"], top_b["last"]) == (
        paths.POINTS_PER_JOB,
        paths.POINTS_PER_JOB + 1,
    )
    assert set(mp.loo_removed(c, "digits", "mlp", "random", 0)) == {*top, "random_seed"}
    assert set(top) == {"training", "loader", "seeds", "stratum", "first", "last"}
    inputs = paths.loo_inputs(c, "digits", "mlp", "plan.json", run=True)
    assert inputs["top_b"] == [f"results/digits/mlp/loo/top_b/{g}.npz" for g in (0, 1)]
    assert [len(inputs[s]) for s in ("top", "random")] == [2, 1]
    assert "ref_correct" in paths.loo_removed_inputs(c, "digits", "mlp", "top_b")
    assert "ref_correct" not in paths.loo_removed_inputs(c, "digits", "mlp", "random")


def test_inputs_follow_the_templates():
    c = edited(lambda c: c["ensembles"]["rate0.5"].update(members=2 * c["masks"]["block_size"]))
    outputs = paths.member_outputs(c, "digits", "mlp", "rate0.5")
    block = c["masks"]["block_size"]  # member k = block * block_size + slot, in mask row order
    assert len(outputs) == 2 * block
    assert outputs[block + 1] == "results/digits/mlp/rate0.5/members/1/1/outputs.npz"
    assert paths.member_slice(32, 2) == [
        "results/{dataset}/{arch}/{ens}/members/{block}/32/outputs.npz",
        "results/{dataset}/{arch}/{ens}/members/{block}/33/outputs.npz",
    ]
    member = {"dataset": "digits", "arch": "mlp", "ens": "rate0.5", "block": 1, "slot": 3}
    assert paths.member_checkpoint(paths.fill(paths.MEMBER, **member)) == paths.fill(
        paths.MEMBER_CHECKPOINT, **member
    )
    assert paths.parse_removal_id("rate0.5-wd0.002-frac-null") == ("rate0.5-wd0.002", "frac", "null")
    assert re.fullmatch(paths.one_of(["rate0.5", "rate0.5-wd0.002"]), "rate0.5-wd0.002")
    assert not re.fullmatch(paths.one_of(["rate0.5"]), "rate0x5")


def templates(top: str = "results/") -> dict[str, str]:
    """memgen.paths' templates of files under `top`: the artifacts, or with "logs/" the rules' logs."""
    return {k: v for k, v in vars(paths).items() if k.isupper() and isinstance(v, str) and v.startswith(top)}


def test_every_template_is_in_docs_artifacts():
    doc = (ROOT / "docs" / "artifacts.md").read_text()
    missing = [f"{k} = {v}" for k, v in templates().items() if f"`{v}`" not in doc]
    assert not missing, "docs/artifacts.md lacks rows for:\n" + "\n".join(missing)


def test_rules_name_results_only_through_memgen_paths():
    smk = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]
    literal = [
        f"{p.name}: {line.strip()}" for p in smk for line in p.read_text().splitlines() if '"results/' in line
    ]
    assert not literal, "write these paths once, in memgen/paths.py:\n" + "\n".join(literal)


def test_rules_name_logs_only_through_memgen_paths():
    smk = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]
    texts = {p.name: p.read_text() for p in smk}
    literal = [
        f"{n}: {line.strip()}" for n, t in texts.items() for line in t.splitlines() if '"logs/' in line
    ]
    assert not literal, "write these paths once, in memgen/paths.py (LOG_*):\n" + "\n".join(literal)
    logs = templates("logs/")
    assert len(set(logs.values())) == len(logs) and all(v.endswith(".log") for v in logs.values())
    # every template is some rule's log (the figures' through figure_log)
    uses = {"LOG_FIGURE": "paths.figure_log("}
    unused = [k for k in logs if not any(uses.get(k, f"paths.{k},") in t for t in texts.values())]
    assert not unused, f"log templates no rule uses: {unused}"


def test_benchmark_files_lie_beside_the_logs():
    assert paths.benchmark_of(paths.LOG_LOO_FULL) == "logs/{dataset}/{arch}/loo/full.benchmark.tsv"
    member = paths.benchmark_of(paths.fill(paths.LOG_MEMBERS, first=32))
    assert member == "logs/{dataset}/{arch}/{ens}/members/{block}/32.benchmark.tsv"
    # where memgen plan looks for the member jobs' time (memgen.plan.study.member_minutes)
    assert Path(paths.fill(member, dataset="d", arch="a", ens="e", block=0)).match(
        "logs/d/a/e/members/*/*.benchmark.tsv"
    )
    assert paths.figure_log("fig3_null_{dataset}_{arch}") == "logs/figures/fig3_null_{dataset}_{arch}.log"
    with pytest.raises(ValueError, match="not a log path"):
        paths.benchmark_of(paths.SCORES)


def test_fitcheck_expectations_resolve_per_dataset_then_per_arch():
    default = mp.fitcheck(BASE, "digits")
    # no override: config fitcheck as before, without the `datasets` table (a digits study reruns nothing)
    assert default["expect"] == {k: v for k, v in BASE["fitcheck"].items() if k != "datasets"}
    assert list(default["expect"]) == [
        "min_train_acc",
        "max_dead_fraction",
        "min_canary_acc_in",
        "members",
        "sample",
    ]

    def per_dataset(c):
        with_folder(c)
        c["fitcheck"]["datasets"] = {
            "mine": {"min_train_acc": 0.5, "archs": {"mlp": {"max_dead_fraction": 0.4}}}
        }

    c = edited(per_dataset)
    assert mp.fitcheck(c, "digits")["expect"] == default["expect"]  # another dataset's override: not digits'
    mine = mp.fitcheck(c, "mine", "mlp")["expect"]
    assert (mine["min_train_acc"], mine["max_dead_fraction"], mine["min_canary_acc_in"]) == (0.5, 0.4, 0.02)
    assert list(mine) == list(default["expect"])  # the order, and with it the params' repr, stays
    # an architecture's override needs the architecture: planning stops rather than ignore it
    with pytest.raises(MemgenError, match=r"fitcheck.datasets.mine.archs is set.*Fix: pass it"):
        mp.fitcheck(c, "mine")
