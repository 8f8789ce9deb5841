"""Where every artifact and every rule's log lives: each path template written once. rules/*.smk name their
inputs, outputs and logs with these, docs/artifacts.md lists them (tests/test_params.py checks both), and the
functions below expand them into the files a rule reads. `{name}` is a Snakemake wildcard; `fill` sets some
and keeps the others. Torch-free: Snakemake imports it when it parses the workflow.
"""

from pathlib import Path

import memgen.config as mc

# ---- stage 1, data (rules/data.smk) ----
INDEX = "results/{dataset}/data/index.npz"
CANARIES = "results/{dataset}/data/canaries.npz"
DUPLICATES = "results/{dataset}/data/duplicates.csv"
# ---- stage 2, score ensembles (rules/ensemble.smk); member k = block * masks.block_size + slot ----
MASKS = "results/{dataset}/{arch}/{ens}/masks.npz"
MEMBER = "results/{dataset}/{arch}/{ens}/members/{block}/{slot}/outputs.npz"
MEMBER_CHECKPOINT = "results/{dataset}/{arch}/{ens}/members/{block}/{slot}/checkpoint.pt"
# ---- stage 3, scores (rules/scores.smk) ----
SCORES = "results/{dataset}/{arch}/{ens}/scores.csv"
CORRECT = "results/{dataset}/{arch}/{ens}/correct.npz"
FIT = "results/{dataset}/{arch}/{ens}/fit.json"
THRESHOLDS = "results/{dataset}/{arch}/{ens}/thresholds.json"
FDR = "results/{dataset}/{arch}/{ens}/fdr.csv"  # the test rule against q, and its calibration null
# ---- exact leave-one-out (rules/loo.smk) ----
LOO_PLAN = "results/{dataset}/{arch}/loo/plan.json"
LOO_FULL = "results/{dataset}/{arch}/loo/full.npz"
LOO_FULL_RESUME = "results/{dataset}/{arch}/loo/resume-full.pt"
LOO_REMOVED = "results/{dataset}/{arch}/loo/{stratum}/{group}.npz"
LOO_REMOVED_RESUME = "results/{dataset}/{arch}/loo/{stratum}/resume-{group}.pt"
LOO = "results/{dataset}/{arch}/loo.csv"
# ---- stage 4, analyses (rules/analysis.smk) ----
DEFINITIONS = "results/{dataset}/{arch}/definitions.csv"
SAMPLING_BIAS = "results/{dataset}/{arch}/sampling_bias.csv"
STABILITY = "results/{dataset}/{arch}/stability.csv"
MEMORIZED = "results/{dataset}/{arch}/memorized.csv"
# ---- influence pairs (rules/influence.smk) ----
INFLUENCE = "results/{dataset}/{arch}/influence.csv"
INFLUENCE_SUMMARY = "results/{dataset}/{arch}/influence.json"
INFLUENCE_DUPLICATES = "results/{dataset}/{arch}/influence_duplicates.csv"
TABLE3_SPLIT = "results/{dataset}/{arch}/table3_split.csv"
# ---- memorization proxies (rules/proxies.smk) ----
PROXY_LOG = "results/{dataset}/{arch}/proxies/log.npz"
PROXY_RESUME = "results/{dataset}/{arch}/proxies/resume.pt"
PROXIES = "results/{dataset}/{arch}/proxies.csv"
PROXIES_VALIDATION = "results/{dataset}/{arch}/proxies_validation.csv"
MEMORIZED_PROXY = "results/{dataset}/{arch}/memorized_proxy.csv"
# the proxies' validation memgen ships (a proxy audit's summary quotes it), in the checkout: file, what
SHIPPED_VALIDATION = {
    "docs/results/proxies/digits.csv": "digits, the default study (config.yaml)",
    "docs/results/proxies/fashion-mnist-2k.csv": "Fashion-MNIST, 2,000 images (configs/fashion-cpu.yaml)",
    "docs/results/proxies/fashion-mnist-60k.csv": "Fashion-MNIST, 60,000 images (fashion-60k-cpu.yaml)",
}
# ---- stage 5, utility (rules/utility.smk); {removal} is a removal id, {variant} a name of VARIANTS ----
REMOVAL = "results/{dataset}/{arch}/removal/{removal}.npz"
UTILITY_RUN = "results/{dataset}/{arch}/utility/{removal}/{condition}/{shard}/{slot}/outputs.npz"
UTILITY_CHECKPOINT = "results/{dataset}/{arch}/utility/{removal}/{condition}/{shard}/{slot}/checkpoint.pt"
UTILITY_RESUME = "results/{dataset}/{arch}/utility/{removal}/{condition}/{shard}/resume.pt"
UTILITY = "results/{dataset}/{arch}/utility/{variant}.csv"
UTILITY_POINTS = "results/{dataset}/{arch}/utility/{variant}.npz"
TABLE1 = "results/table1.csv"
TABLE3 = "results/table3.csv"
TABLE3_CLASSES = "results/{dataset}/{arch}/table3_classes.csv"
# ---- replicates (rules/replicates.smk): what the R replicates' memorized sets share ----
MEMORIZED_REPLICATES = "results/{dataset}/{arch}/memorized_replicates.csv"
REPLICATE_OVERLAP = "results/replicate_overlap.csv"
# ---- stage 6 and 7, figures and the report's first page (rules/figures.smk, rules/report.smk) ----
FIGURE = "results/figures/{figure}.{ext}"
SUMMARY = "results/summary.rst"

# ---- each rule's log under logs/ (the rules' `log:`), in the order of the rules above; the long-running
# rules' benchmark files lie beside their logs (`benchmark_of`) ----
LOG_INDEX = "logs/{dataset}/index.log"
LOG_CANARIES = "logs/{dataset}/canaries.log"
LOG_DUPLICATES = "logs/{dataset}/duplicates.log"
LOG_MASKS = "logs/{dataset}/{arch}/{ens}/masks.log"
LOG_MEMBERS = "logs/{dataset}/{arch}/{ens}/members/{block}/{first}.log"  # {first}: the rule's first slot
LOG_SCORES = "logs/{dataset}/{arch}/{ens}/scores.log"
LOG_FITCHECK = "logs/{dataset}/{arch}/{ens}/fitcheck.log"
LOG_THRESHOLDS = "logs/{dataset}/{arch}/{ens}/thresholds.log"
LOG_FDR = "logs/{dataset}/{arch}/{ens}/fdr.log"
LOG_LOO_PLAN = "logs/{dataset}/{arch}/loo/plan.log"
LOG_LOO_FULL = "logs/{dataset}/{arch}/loo/full.log"
LOG_LOO_REMOVED = "logs/{dataset}/{arch}/loo/{stratum}/{group}.log"
LOG_LOO = "logs/{dataset}/{arch}/loo.log"
LOG_DEFINITIONS = "logs/{dataset}/{arch}/definitions.log"
LOG_SAMPLING_BIAS = "logs/{dataset}/{arch}/sampling_bias.log"
LOG_STABILITY = "logs/{dataset}/{arch}/stability.log"
LOG_MEMORIZED = "logs/{dataset}/{arch}/memorized.log"
LOG_PROXY_LOG = "logs/{dataset}/{arch}/proxies/log.log"
LOG_PROXIES = "logs/{dataset}/{arch}/proxies.log"
LOG_PROXIES_VALIDATION = "logs/{dataset}/{arch}/proxies_validation.log"
LOG_MEMORIZED_PROXY = "logs/{dataset}/{arch}/memorized_proxy.log"
LOG_INFLUENCE = "logs/{dataset}/{arch}/influence.log"
LOG_INFLUENCE_DUPLICATES = "logs/{dataset}/{arch}/influence_duplicates.log"
LOG_TABLE3_SPLIT = "logs/{dataset}/{arch}/table3_split.log"
LOG_REMOVAL = "logs/{dataset}/{arch}/removal/{removal}.log"
LOG_UTILITY_RUNS = "logs/{dataset}/{arch}/utility/{removal}/{condition}/{shard}.log"
LOG_UTILITY = "logs/{dataset}/{arch}/utility/{variant}.log"
LOG_TABLE1 = "logs/table1.log"
LOG_TABLE3 = "logs/table3.log"
LOG_TABLE3_CLASSES = "logs/{dataset}/{arch}/table3_classes.log"
LOG_MEMORIZED_REPLICATES = "logs/{dataset}/{arch}/memorized_replicates.log"
LOG_REPLICATE_OVERLAP = "logs/replicate_overlap.log"
LOG_FIGURE = "logs/figures/{figure}.log"  # {figure}: the figure's file stem, as in FIGURE
LOG_SUMMARY = "logs/summary.log"

# Values of the {condition} wildcard: what a utility run removes (memgen.utility.removal): the memorized set,
# the paper's uniform random control, the class-matched random control (Table 3's removal set only:
# memgen.variants.run_conditions).
UTILITY_CONDITIONS = ("memorized", "random", "random_class")
# Values of the {stratum} wildcard: leave-one-out's samples of points (memgen/loo/truth.py): the top points of
# the reference's half A, those of its half B (cross-fitting), a random sample; and the loo key sizing each.
STRATA = ("top", "top_b", "random")
STRATUM_SIZE = {"top": "top", "top_b": "top", "random": "random"}
# Points per leave-one-out job ({group}): 8 points x M = 8 seeds = 64 vmapped digits MLPs (~30 s, 2 cores)
POINTS_PER_JOB = 8
# Members of the reference ensemble whose features are concatenated where member 0's are degenerate for
# some points (memgen/ensemble/duplicates.py; slots 0.. of block 0: trained by the same job as member 0 at the
# default shard sizes).
FALLBACK_MEMBERS = 4


def fill(template: str, **values) -> str:
    """The template with the named wildcards set; the others stay wildcards."""
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def one_of(names) -> str:
    """A wildcard constraint matching exactly these names (dots literal, longest first)."""
    return "|".join(sorted((n.replace(".", r"\.") for n in names), key=len, reverse=True))


def figure(name: str, ext: str) -> str:
    return fill(FIGURE, figure=name, ext=ext)


def figure_log(name: str) -> str:
    return fill(LOG_FIGURE, figure=name)


def benchmark_of(log: str) -> str:
    """The benchmark file beside a rule's log: logs/x/y.log -> logs/x/y.benchmark.tsv (what memgen plan
    reads of finished member jobs, memgen.plan.study.member_minutes)."""
    if not log.endswith(".log"):
        raise ValueError(f"{log} is not a log path (*.log)")
    return log.removesuffix(".log") + ".benchmark.tsv"


def parse_removal_id(removal: str) -> tuple[str, str, str]:
    """A {removal} wildcard value: 'rate0.7-wd0.1-fz-fixed' -> ('rate0.7-wd0.1', 'fz', 'fixed')."""
    ens, definition, rule = removal.rsplit("-", 2)
    return ens, definition, rule


def loo_groups(n: int, per_job: int = POINTS_PER_JOB) -> list[tuple[int, int]]:
    """[first, last) positions of each job ({group}) of a leave-one-out stratum of n points."""
    return [(g, min(g + per_job, n)) for g in range(0, n, per_job)]


def pairs(config: dict, replicates: bool = False) -> list[tuple[str, str]]:
    """Every (dataset, arch) the config studies: replicate 1 of each dataset (the datasets as configured),
    or with `replicates` every replicate's (`<dataset>.rep<r>`, memgen.config.expand_replicates) too."""
    datasets = config["datasets"] if replicates else mc.primary_datasets(config)
    return [(d, a) for d in datasets for a in datasets[d]["archs"]]


def replicate_pairs(config: dict) -> list[tuple[str, str]]:
    """The (dataset, arch) of replicates 2..R only."""
    first = set(pairs(config))
    return [p for p in pairs(config, replicates=True) if p not in first]


def per_pair(config: dict, template: str, **values) -> list[str]:
    """The template for every (dataset, arch)."""
    return [fill(template, dataset=d, arch=a, **values) for d, a in pairs(config)]


# ---- what rules read (rules/common.smk calls these with the job's wildcards) ----
def member_slice(first: int, shard: int, name: str = MEMBER) -> list[str]:
    """Outputs of the member rule of slots [first, first + shard) of any block (wildcard {block})."""
    return [fill(name, slot=s) for s in range(first, first + shard)]


def member_checkpoint(outputs: str) -> str:
    """MEMBER_CHECKPOINT of the member whose MEMBER is `outputs` (the same folder): written beside the
    outputs by their job, not declared (rules/ensemble.smk), so jobs find it from the outputs' path."""
    return str(Path(outputs).with_name(Path(MEMBER_CHECKPOINT).name))


def member_outputs(config: dict, dataset: str, arch: str, ens: str) -> list[str]:
    """Every member's outputs, in mask row order (member k = block * block_size + slot)."""
    block = config["masks"]["block_size"]
    return [
        fill(MEMBER, dataset=dataset, arch=arch, ens=ens, block=b, slot=s)
        for b in range(mc.members(config, dataset, ens) // block)
        for s in range(block)
    ]


def fitcheck_members(config: dict, dataset: str, arch: str, ens: str) -> list[str]:
    """Members whose checkpoints the fit check runs: slots 0.. of block 0 (their outputs stand for the
    checkpoints written beside them just before, rules/ensemble.smk)."""
    n = min(config["fitcheck"]["members"], config["masks"]["block_size"])
    return [fill(MEMBER, dataset=dataset, arch=arch, ens=ens, block=0, slot=s) for s in range(n)]


ENSEMBLE_FILES = {"masks": MASKS, "scores": SCORES, "correct": CORRECT, "fit": FIT, "thresholds": THRESHOLDS}


def of_ensemble(dataset: str, arch: str, ens: str, *names: str) -> dict[str, str]:
    """Files of one ensemble by name, e.g. of_ensemble(d, a, e, "scores", "thresholds")."""
    return {n: fill(ENSEMBLE_FILES[n], dataset=dataset, arch=arch, ens=ens) for n in names}


def proxies_validation_inputs(dataset: str, arch: str, reference: str) -> dict[str, str]:
    """What the proxies are held against: the reference ensemble's scores, the memorized set, leave-one-out
    (header only where skipped), and the proxy log (its cost)."""
    files = {"proxies": PROXIES, "memorized": MEMORIZED, "loo": LOO, "log": PROXY_LOG}
    return {k: fill(v, dataset=dataset, arch=arch) for k, v in files.items()} | of_ensemble(
        dataset, arch, reference, "scores"
    )


def ensemble_scores(config: dict, dataset: str, arch: str) -> dict[str, str]:
    return {e: fill(SCORES, dataset=dataset, arch=arch, ens=e) for e in config["ensembles"]}


def duplicates_source(config: dict, dataset: str) -> dict:
    """The near-duplicate detector uses features of member 0 of the reference ensemble (first arch);
    a published list (ciFAIR) is copied as it is."""
    src = config["datasets"][dataset]["duplicates"]
    if src != "detect":
        return {"csv": src}
    arch = next(iter(config["datasets"][dataset]["archs"]))
    first = min(FALLBACK_MEMBERS, config["masks"]["block_size"])
    members = [
        fill(MEMBER, dataset=dataset, arch=arch, ens=mc.reference(config), block=0, slot=s)
        for s in range(first)
    ]
    # the member's outputs stand for its checkpoint, written beside them just before (rules/ensemble.smk);
    # where member 0's features are degenerate for some points: its first members' features
    return {
        "canaries": fill(CANARIES, dataset=dataset),
        "member": members[0],
        "members": members,
        "index": fill(INDEX, dataset=dataset),
    }


def removed_inputs(dataset: str, arch: str, removal: str) -> dict[str, str]:
    """A removal set and the scores it was drawn from (Fig. 10)."""
    ens = parse_removal_id(removal)[0]
    return {
        "scores": fill(SCORES, dataset=dataset, arch=arch, ens=ens),
        "removal": fill(REMOVAL, dataset=dataset, arch=arch, removal=removal),
    }


def variant_inputs(dataset: str, arch: str, removal: str, dedup: bool) -> dict[str, str]:
    """A variant's removal set, and the duplicate list where it is evaluated on the de-duplicated test set:
    replicate 1's for every replicate (they share the test set, so each replicate drops the same points)."""
    inputs = {"removal": fill(REMOVAL, dataset=dataset, arch=arch, removal=removal)}
    if dedup:  # only they read the duplicate list
        inputs["duplicates"] = fill(DUPLICATES, dataset=mc.split_replicate(dataset)[0])
    return inputs


def memorized_inputs(config: dict, dataset: str, arch: str, removal: str) -> dict:
    """Scores, τ, mask and member outputs (held-out predictions) of the ensemble removal set `removal` comes
    from, and the index (files, class names)."""
    ens = parse_removal_id(removal)[0]
    return {
        **of_ensemble(dataset, arch, ens, "scores", "thresholds", "masks"),
        "outputs": member_outputs(config, dataset, arch, ens),
        "index": fill(INDEX, dataset=dataset),
    }


def influence_inputs(config: dict, dataset: str, arch: str) -> dict:
    """The influence ensemble's masks and members (their test outputs), the index (files, labels), the
    canary flags (canaries are left out) and memorized.csv (which training points are memorized)."""
    ens = mc.influence_ensemble(config)
    return {
        "masks": fill(MASKS, dataset=dataset, arch=arch, ens=ens),
        "outputs": member_outputs(config, dataset, arch, ens),
        "index": fill(INDEX, dataset=dataset),
        "canaries": fill(CANARIES, dataset=dataset),
        "memorized": fill(MEMORIZED, dataset=dataset, arch=arch),
    }


def table3_split_inputs(dataset: str, arch: str, removal: str, dedup: bool) -> dict[str, str]:
    """influence.csv and influence.json, Table 3's removal set, the index (test labels), and the duplicate
    list where Table 3 is evaluated on the de-duplicated test set (the utility runs are added after the
    removal checkpoint)."""
    out = {
        "influence": fill(INFLUENCE, dataset=dataset, arch=arch),
        "summary": fill(INFLUENCE_SUMMARY, dataset=dataset, arch=arch),
        "removal": fill(REMOVAL, dataset=dataset, arch=arch, removal=removal),
        "index": fill(INDEX, dataset=dataset),
    }
    if dedup:
        out["duplicates"] = fill(DUPLICATES, dataset=dataset)
    return out


def influence_duplicates_inputs(config: dict, dataset: str, arch: str) -> dict:
    """influence.csv, the duplicate list, and what influence reads (the influence ensemble's masks and
    members, the index, the canaries) but memorized.csv: every detector pair gets its influence."""
    out = {k: v for k, v in influence_inputs(config, dataset, arch).items() if k != "memorized"}
    return {
        "influence": fill(INFLUENCE, dataset=dataset, arch=arch),
        "duplicates": fill(DUPLICATES, dataset=dataset),
    } | out


def gallery_inputs(dataset: str, arch: str, removal: str) -> dict[str, str]:
    ens = parse_removal_id(removal)[0]
    return {
        "memorized": fill(MEMORIZED, dataset=dataset, arch=arch),
        "thresholds": fill(THRESHOLDS, dataset=dataset, arch=arch, ens=ens),
        "index": fill(INDEX, dataset=dataset),
    }


def fdr_ensembles(config: dict) -> list[str]:
    """Ensembles whose fdr.csv `all` builds: the ablation's high-rate one (the test rule's Table 1 row and
    Fig. 13 rest on it); any other's is built on request (snakemake <its fdr.csv>)."""
    return [config["ablation"]["high_rate"]]


def fdr_figure_inputs(config: dict, dataset: str, arch: str) -> dict[str, str]:
    """Fig. 13: fdr.csv and thresholds.json (Eq. 3's counts) of the ablation's high-rate ensemble."""
    return {
        "fdr": fill(FDR, dataset=dataset, arch=arch, ens=config["ablation"]["high_rate"]),
        **of_ensemble(dataset, arch, config["ablation"]["high_rate"], "thresholds"),
    }


def proxy_targets(config: dict) -> list[str]:
    """scope proxy (memgen audit --proxy): per (dataset, arch) the proxy models' proxies, the set
    proxies.audit flags and its gallery; the summary. No ensemble trains."""
    per_pair_files = [PROXIES, MEMORIZED_PROXY] + [
        figure("proxy_gallery_{dataset}_{arch}", x) for x in ("png", "pdf")
    ]
    return [f for t in per_pair_files for f in per_pair(config, t)] + [SUMMARY]


def answer_targets(config: dict) -> list[str]:
    """scope answer / memorized: per (dataset, arch) the high-rate ensemble's scores, fit check and
    thresholds, memorized.csv and the gallery; Table 3 and its per-class breakdown unless the scope is
    memorized; the summary."""
    ens = config["ablation"]["high_rate"]
    per_pair_files = [fill(t, ens=ens) for t in (SCORES, FIT, THRESHOLDS)] + [MEMORIZED]
    per_pair_files += [figure("gallery_{dataset}_{arch}", x) for x in ("png", "pdf")]
    tables = [TABLE3, *per_pair(config, TABLE3_CLASSES)] if config.get("scope") == "answer" else []
    return (
        [f for t in per_pair_files for f in per_pair(config, t)]
        + tables
        + replicate_targets(config)
        + [SUMMARY]
    )


def replicate_targets(config: dict, removals=()) -> list[str]:
    """With replicates > 1: each further replicate's memorized.csv and removal sets `removals` (its Table 1
    and Table 3 rows come through the tables' inputs), and what the replicates' memorized sets share."""
    if mc.replicates(config) < 2:
        return []
    per_replicate = [MEMORIZED] + [fill(REMOVAL, removal=r) for r in sorted(set(removals))]
    files = [fill(t, dataset=d, arch=a) for d, a in replicate_pairs(config) for t in per_replicate]
    return files + per_pair(config, MEMORIZED_REPLICATES) + [REPLICATE_OVERLAP]


def memorized_replicates_inputs(config: dict, dataset: str, arch: str) -> dict[str, list[str]]:
    """memorized.csv of every replicate of `dataset` (replicate 1 first), and the thresholds.json its set
    rests on (an undefined set is told from an empty one)."""
    names = [mc.replicate_name(dataset, r) for r in range(1, mc.replicates(config) + 1)]
    ens = config["ablation"]["high_rate"]
    return {
        "memorized": [fill(MEMORIZED, dataset=d, arch=arch) for d in names],
        "thresholds": [fill(THRESHOLDS, dataset=d, arch=arch, ens=ens) for d in names],
    }


def replicate_overlap_inputs(config: dict) -> dict[str, list[str]]:
    """memorized_replicates_inputs of every (dataset, arch), in pairs() order."""
    each = [memorized_replicates_inputs(config, d, a) for d, a in pairs(config)]
    return {k: [f for e in each for f in e[k]] for k in ("memorized", "thresholds")}


def summary_inputs(config: dict, removal: str) -> dict[str, str]:
    """The tables the scope builds (Table 1 in the full study, Table 3 unless the scope is memorized), and
    per dataset x arch the thresholds of the ensemble the answer (Table 3's removal set) rests on and the
    gallery, and Table 3 per class where Table 3 is built; in the full study also the influence pairs, their
    comparison with the duplicate detector, Table 3 split by partner, the pairs gallery, and the proxies'
    validation with its figure."""
    ens = parse_removal_id(removal)[0]
    scope = config.get("scope", "full")
    if scope == "proxy":
        return proxy_summary_inputs(config)
    out = {"table1": TABLE1} if scope == "full" else {}
    out.update({"table3": TABLE3} if scope != "memorized" else {})
    for i, (d, a) in enumerate(pairs(config)):
        out[f"thresholds_{i}"] = fill(THRESHOLDS, dataset=d, arch=a, ens=ens)
        out[f"gallery_{i}"] = figure(f"gallery_{d}_{a}", "png")
        if scope != "memorized":
            out[f"table3_classes_{i}"] = fill(TABLE3_CLASSES, dataset=d, arch=a)
        if scope == "full":  # leakage seen two ways: influence pairs, the detector, Table 3 split
            out[f"influence_{i}"] = fill(INFLUENCE, dataset=d, arch=a)
            out[f"influence_summary_{i}"] = fill(INFLUENCE_SUMMARY, dataset=d, arch=a)
            out[f"influence_duplicates_{i}"] = fill(INFLUENCE_DUPLICATES, dataset=d, arch=a)
            out[f"table3_split_{i}"] = fill(TABLE3_SPLIT, dataset=d, arch=a)
            out[f"influence_gallery_{i}"] = figure(f"influence_{d}_{a}", "png")
            out[f"proxies_validation_{i}"] = fill(PROXIES_VALIDATION, dataset=d, arch=a)
            out[f"proxies_figure_{i}"] = figure(f"proxies_{d}_{a}", "png")
    return out


def proxy_summary_inputs(config: dict) -> dict[str, str]:
    """A proxy audit's summary: per (dataset, arch) its proxies, flagged set and gallery."""
    out = {}
    for i, (d, a) in enumerate(pairs(config)):
        out[f"proxies_{i}"] = fill(PROXIES, dataset=d, arch=a)
        out[f"memorized_proxy_{i}"] = fill(MEMORIZED_PROXY, dataset=d, arch=a)
        out[f"proxy_gallery_{i}"] = figure(f"proxy_gallery_{d}_{a}", "png")
    return out


def utility_tables(config: dict, variants, template: str = UTILITY) -> list[str]:
    """The utility tables of these variants, for every (dataset, arch): what Tables 1 and 3 read (with
    template UTILITY_POINTS: their per-test-point outcomes beside them)."""
    return [
        fill(template, dataset=d, arch=a, variant=v)
        for d, a in pairs(config, replicates=True)
        for v in variants
    ]


def table3_classes_inputs(dataset: str, arch: str, variant: str, removal: str) -> dict[str, str]:
    """Table 3's utility table and its per-test-point outcomes, its removal set and the scores it was drawn
    from (training labels: how many points of each class each condition removes), the index (class names)."""
    return {
        "utility": fill(UTILITY, dataset=dataset, arch=arch, variant=variant),
        "points": fill(UTILITY_POINTS, dataset=dataset, arch=arch, variant=variant),
        **removed_inputs(dataset, arch, removal),
        "index": fill(INDEX, dataset=dataset),
    }


def utility_runs(config: dict, dataset: str, arch: str, removal: str, conditions) -> list[str]:
    """The utility runs of a removal set under `conditions` (memgen.variants.run_conditions: the
    class-matched control only for Table 3's set), every seed (shards of utility.shard_size)."""
    shard = config["utility"]["shard_size"]
    unknown = [c for c in conditions if c not in UTILITY_CONDITIONS]
    if unknown:
        raise ValueError(f"unknown utility-run conditions {unknown}: {UTILITY_CONDITIONS} are known")
    return [
        fill(UTILITY_RUN, dataset=dataset, arch=arch, removal=removal, condition=c, shard=k, slot=s)
        for c in conditions
        for k in range(mc.utility_seeds(config, dataset) // shard)
        for s in range(shard)
    ]


def loo_removed_inputs(config: dict, dataset: str, arch: str, stratum: str) -> dict[str, str]:
    """Every stratum needs the canary flags; the top ones rank by half of the reference ensemble's members."""
    out = {"index": fill(INDEX, dataset=dataset), "canaries": fill(CANARIES, dataset=dataset)}
    if stratum != "random":
        out.update(_reference_outputs(config, dataset, arch))
    return out


def _reference_outputs(config: dict, dataset: str, arch: str) -> dict[str, str]:
    ens = mc.reference(config)
    return {
        "ref_masks": fill(MASKS, dataset=dataset, arch=arch, ens=ens),
        "ref_correct": fill(CORRECT, dataset=dataset, arch=arch, ens=ens),
    }


def loo_inputs(config: dict, dataset: str, arch: str, plan: str, run: bool) -> dict:
    """The plan, and where it says leave-one-out runs the full models and every job of each stratum."""
    out: dict = {
        "plan": plan,
        "index": fill(INDEX, dataset=dataset),
        "canaries": fill(CANARIES, dataset=dataset),
    }
    if not run:
        return out
    out["full"] = fill(LOO_FULL, dataset=dataset, arch=arch)
    out.update(_reference_outputs(config, dataset, arch))  # lira's held-out variance, and half B's scores
    for s in STRATA:
        n_jobs = len(loo_groups(config["loo"][STRATUM_SIZE[s]]))
        if n_jobs:
            out[s] = [
                fill(LOO_REMOVED, dataset=dataset, arch=arch, stratum=s, group=g) for g in range(n_jobs)
            ]
    return out


# ---- what `all` asks for (Snakefile) ----
STUDY_FIGURES = ("fig1_sampling_bias", "fig2_fpr", "fig5_utility", "fig8_sweep", "fig9_stability")
PAIR_FIGURES = (
    "fig3_null",
    "fig4_leakage",
    "fig7_curves",
    "fig10_removed",
    "fig11_seeds",
    "fig12_intervals",
    "gallery",
    "influence",
    "fig13_fdr",
    "proxies",
)


def targets(config: dict, removals) -> list[str]:
    """Every ensemble's scores and thresholds, the analyses, the removal sets `removals`, the tables, the
    figures and the summary. Removal sets are targets on purpose: a utility table depends on its removal set
    through the removal checkpoint, and Snakemake does not rerun a finished job whose checkpoint input is
    missing (e.g. after ablation.baseline names another ensemble); asking for the set builds it, and the
    utility table is then re-evaluated with its new input. A narrower `scope` asks only for the answer
    (`answer_targets`)."""
    if config.get("scope", "full") == "proxy":
        return proxy_targets(config)
    if config.get("scope", "full") != "full":
        return answer_targets(config)
    per_pair_files = [
        DEFINITIONS,
        SAMPLING_BIAS,
        STABILITY,
        MEMORIZED,
        INFLUENCE,
        INFLUENCE_DUPLICATES,
        TABLE3_SPLIT,
        TABLE3_CLASSES,
        PROXIES_VALIDATION,
    ]
    per_pair_files += [fill(t, ens=e) for e in config["ensembles"] for t in (SCORES, THRESHOLDS)]
    per_pair_files += [fill(FDR, ens=e) for e in fdr_ensembles(config)]
    per_pair_files += [fill(REMOVAL, removal=r) for r in sorted(set(removals))]
    per_pair_files += [figure(f"{n}_{{dataset}}_{{arch}}", x) for n in PAIR_FIGURES for x in ("png", "pdf")]
    study = [figure(n, x) for n in STUDY_FIGURES for x in ("png", "pdf")] + [TABLE1, TABLE3, SUMMARY]
    replicate = replicate_targets(config, removals)
    return [f for t in per_pair_files for f in per_pair(config, t)] + replicate + study
