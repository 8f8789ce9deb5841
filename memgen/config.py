"""The study configuration: schema validation with one clear message, defaults, and resolved settings.

rules/common.smk calls `validate(config)` once, when the Snakefile is read: it checks the config against
schemas/config.schema.yaml (the first error as one line naming the key and the fix), fills the schema's
defaults in place and applies the cross-key rules of `check` (`memgen audit` validates its config the same
way). memgen/params.py builds each rule's params (and memgen/paths.py its inputs) from the resolved values
here (`training` and `member_recipe`: the recipe's layers; `loader_spec`, `members`, `reference`,
`stable_seed`, `utility_seeds`, `min_side`), so a rule's `params` hold exactly the settings that affect its
outputs (Snakemake reruns a job whose params changed, and nothing else). No torch: planning imports this
module (tests/test_layering.py).
"""

import zlib
from copy import deepcopy
from pathlib import Path

import jsonschema
import yaml

from memgen.errors import MemgenError, fail
from memgen.kinds import BUNDLED, FOLDER_KINDS, KINDS, kind_of
from memgen.recipe import DEVICE_ONLY, RUN_ONLY, SMALL, TIMM

SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "config.schema.yaml"


def _where(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _schema_message(err: jsonschema.ValidationError) -> str:
    where = _where(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        hint = f"allowed keys here: {', '.join(allowed)}" if allowed else "see schemas/config.schema.yaml"
        return str(
            fail(f"config: unknown key {extra} under {where}", f"fix the spelling or remove it ({hint})")
        )
    if err.validator == "required":
        return str(
            fail(
                f"config: {where} lacks {err.message.split(' is a required')[0]}", "add it (see config.yaml)"
            )
        )
    desc = err.schema.get("description", "")
    what = f" ({desc})" if desc else ""
    return str(
        fail(
            f"config: {where} = {err.instance!r} is invalid: {err.message}",
            f"give {where} a value that satisfies this{what}; see schemas/config.schema.yaml",
        )
    )


def _is_override(sub: dict) -> bool:
    return sub.get("$ref") == "#/$defs/training"


def _fill_defaults(schema: dict, node, root: dict, top: bool = True) -> None:
    """Fill schema defaults in place (jsonschema validates but does not fill).

    Training overrides (per dataset, architecture, ensemble) are left sparse: filling them would turn
    "no override" into "override with the schema default" and silently replace the config's recipe.
    """
    if not isinstance(node, dict):
        return
    if "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    for key, sub in schema.get("properties", {}).items():
        if _is_override(sub) and not (top and key == "training"):
            node.setdefault(key, {}) if "default" in sub else None
            continue
        if "$ref" in sub:
            sub = {
                **root["$defs"][sub["$ref"].split("/")[-1]],
                **{k: v for k, v in sub.items() if k != "$ref"},
            }
        if key not in node and "default" in sub:
            node[key] = deepcopy(sub["default"])
        if key in node:
            _fill_defaults(sub, node[key], root, top=False)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and not _is_override(extra):
        for key, value in node.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(extra, value, root, top=False)


def validate(config: dict, schema_path=SCHEMA) -> dict:
    """Validate against the JSON schema, fill defaults, then check what a schema cannot express; then add
    each dataset's replicates 2..R (`replicates`) as datasets of their own (expand_replicates). Validating
    an expanded config again gives the same config."""
    config["datasets"] = primary_datasets(config)
    root = yaml.safe_load(Path(schema_path).read_text())
    errors = sorted(
        jsonschema.Draft202012Validator(root).iter_errors(config), key=lambda e: list(e.absolute_path)
    )
    if errors:
        raise MemgenError(_schema_message(errors[0]))
    _fill_defaults(root, config, root)
    check(config)
    expand_replicates(config)
    return config


# ---- replicates: replicate r >= 2 of dataset d is the dataset `d.rep<r>`, a copy of d's entry ----------
# Every seed derives from the master seed and the dataset's name (stable_seed), so the copy draws its own
# canaries, masks, members, removal controls and utility seeds; replicate 1 is d itself, at today's paths.
REPLICATE = ".rep"
REPLICATE_KEY = "replicate_of"  # the copy's own key: which dataset it replicates


def replicate_name(dataset: str, r: int) -> str:
    """The dataset name of replicate r (1-based) of `dataset`."""
    return dataset if r == 1 else f"{dataset}{REPLICATE}{r}"


def split_replicate(name: str) -> tuple[str, int]:
    """('digits', 3) of 'digits.rep3'; (name, 1) of a dataset that is no replicate."""
    base, sep, r = name.rpartition(REPLICATE)
    if sep and r.isdigit() and int(r) >= 2:
        return base, int(r)
    return name, 1


def primary_datasets(config: dict) -> dict:
    """The datasets the user configured (replicate 1 of each), without the added replicates."""
    return {d: s for d, s in config["datasets"].items() if REPLICATE_KEY not in (s or {})}


def replicates(config: dict) -> int:
    return int(config.get("replicates", 1))


def expand_replicates(config: dict) -> None:
    """Add `d.rep<r>` for r = 2..replicates to config["datasets"]: d's entry with its kind (and an image
    folder's root) spelled out, since the name no longer says them."""
    out = primary_datasets(config)
    for d, spec in list(out.items()):
        for r in range(2, replicates(config) + 1):
            copy = deepcopy(spec)
            copy["kind"] = spec.get("kind", d)
            if copy["kind"] in FOLDER_KINDS and "root" not in spec:
                copy["root"] = str(Path(config["data_root"]) / d)
            copy[REPLICATE_KEY] = d
            out[replicate_name(d, r)] = copy
    config["datasets"] = out


def check(config: dict) -> None:
    """Cross-key rules: block sizes, shard sizes, references between keys, architectures."""
    block, shard = config["masks"]["block_size"], config["shard_size"]
    if shard <= 0:  # before anything divides by it
        raise fail(f"config: shard_size = {shard} must be at least 1", "use e.g. 32 on CPU, 4-8 on GPUs")
    if block % shard:  # a job trains a slice of one mask block, so members never depend on the grouping
        divisors = [d for d in range(1, block + 1) if block % d == 0]
        raise fail(
            f"config: shard_size = {shard} does not divide masks.block_size = {block}",
            f"use one of {', '.join(map(str, divisors))} (a job trains a slice of one mask block)",
        )
    for ds in config["datasets"]:
        if split_replicate(ds)[1] > 1:
            raise fail(
                f"config: dataset name '{ds}' ends like a replicate's ('<name>{REPLICATE}<r>')",
                "rename the dataset: replicates are added by the `replicates` key",
            )
        _check_kind(config, ds)
        _check_loader(config, ds)
        for arch in config["datasets"][ds]["archs"]:
            if arch not in SMALL + TIMM:
                raise fail(
                    f"config: datasets.{ds}.archs has unknown architecture '{arch}'",
                    f"use one of {', '.join(SMALL + TIMM)}",
                )
        for name in config["datasets"][ds].get("members", {}):
            if name not in config["ensembles"]:
                raise fail(
                    f"config: datasets.{ds}.members names unknown ensemble '{name}'",
                    f"use one of {sorted(config['ensembles'])}",
                )
        for name in config["ensembles"]:
            k = members(config, ds, name)
            check_mask_spec(config["ensembles"][name]["rate"], k, block, where=f"ensembles.{name} ({ds})")
            if k % shard:
                raise fail(
                    f"config: ensembles.{name} has {k} members, not a multiple of shard_size = {shard}",
                    "make members a multiple of shard_size (or lower shard_size)",
                )
    for ds in config["datasets"]:
        seeds, ushard = utility_seeds(config, ds), utility_shard(config, ds)
        if seeds % ushard:
            raise fail(
                f"config: {seeds} utility seeds for {ds} is not a multiple of utility.shard_size = {ushard}",
                f"use {seeds - seeds % ushard or ushard} or {seeds - seeds % ushard + ushard} seeds, "
                "or another utility.shard_size",
            )
    _check_references(config)


def _check_references(config: dict) -> None:
    """Keys that name an ensemble must name one of `ensembles`."""
    for key in ("baseline", "high_rate"):
        if config["ablation"][key] not in config["ensembles"]:
            raise fail(
                f"config: ablation.{key} = '{config['ablation'][key]}' is not an ensemble",
                f"use one of {sorted(config['ensembles'])}",
            )
    ref = reference(config)
    if ref not in config["ensembles"]:
        raise fail(
            f"config: analysis.reference = '{ref}' is not an ensemble",
            f"use one of {sorted(config['ensembles'])}",
        )
    infl = influence_ensemble(config)
    if infl not in config["ensembles"]:
        raise fail(
            f"config: influence.ensemble = '{infl}' is not an ensemble",
            f"use one of {sorted(config['ensembles'])}, or null to let influence.crossfit choose",
        )
    _check_crossfit(config, infl)


def _check_crossfit(config: dict, infl: str) -> None:
    """With influence.crossfit, a named influence ensemble must not be one whose scores choose a memorized set
    (its held-out members would decide both frac(i) and infl(i, j))."""
    chosen = choosing_ensembles(config)
    spec = config.get("influence") or {}
    if not spec.get("ensemble") or not spec.get("crossfit", True):
        return  # null: influence_ensemble picks a disjoint one where the study has one
    if infl in chosen:
        others = [e for e in config["ensembles"] if e not in chosen]
        use = f"set influence.ensemble to one of {others}" if others else "add a score ensemble for influence"
        raise fail(
            f"config: influence pairs from {infl}, whose scores also choose the memorized sets "
            f"(ensembles {chosen}): a memorized partner would be found by construction (influence.crossfit)",
            f"{use}, or set influence.crossfit: false",
        )


def _check_kind(config: dict, ds: str) -> None:
    """The kind must be one memgen reads (memgen.kinds, the one list; the schema leaves it to this check)."""
    entry = config["datasets"][ds]
    kind, known = kind_of(ds, entry), ", ".join(KINDS)
    if kind in KINDS:
        return
    if "kind" in entry:
        raise fail(
            f"config: datasets.{ds}.kind = {kind!r} is invalid: no dataset kind has that name",
            f"use one of {known}",
        )
    raise fail(
        f"config: datasets.{ds} has no kind, and its name is not a dataset kind",
        f"set datasets.{ds}.kind to one of {known} (an image folder: imagefolder)",
    )


def _check_loader(config: dict, ds: str) -> None:
    entry = config["datasets"][ds]
    kind, loader = entry.get("kind", ds), entry.get("loader", "auto")
    folder = kind in FOLDER_KINDS
    if loader == "stream" and not folder:
        raise fail(
            f"config: datasets.{ds}.loader is stream, but {kind} is not an image folder",
            "remove the key: only imagefolder and imagenet datasets stream from disk",
        )
    recipes = [training(config, ds, a, e) for a in entry["archs"] for e in [None, *config["ensembles"]]]
    if any(r.get("random_resized_crop") for r in recipes):
        if not folder:
            raise fail(
                f"config: training.random_resized_crop is on for {ds}, which is not an image folder",
                f"set it in datasets.{ds}.training only for imagefolder/imagenet datasets, or turn it off",
            )
        if loader == "memory":
            raise fail(
                f"config: datasets.{ds}.loader is memory, but its recipe has random_resized_crop, which "
                "crops the original images only the streaming loader keeps",
                f"set datasets.{ds}.loader: stream (or auto), or training.random_resized_crop: false",
            )


def utility_seeds(config: dict, dataset: str) -> int:
    return config["datasets"][dataset].get("utility_seeds", config["utility"]["seeds"])


def utility_shard(config: dict, dataset: str) -> int:
    """Utility runs per job. Rule outputs are fixed at parse time, so it is one value for all datasets."""
    return config["utility"]["shard_size"]


def members(config: dict, dataset: str, ens: str) -> int:
    return config["datasets"][dataset].get("members", {}).get(ens, config["ensembles"][ens]["members"])


def reference(config: dict) -> str:
    ens = config["ensembles"]
    return config["analysis"].get("reference") or max(ens, key=lambda e: ens[e]["rate"])


def choosing_ensembles(config: dict) -> list[str]:
    """The ensembles whose scores choose a memorized set in this study (every variant's removal set is
    ablation.baseline's or ablation.high_rate's, memorized.csv is high_rate's): influence pairs held against
    those sets are cross-fitted when measured on another ensemble's members."""
    ablation = config.get("ablation") or {}
    return sorted({ablation.get("baseline", "rate0.7"), ablation.get("high_rate", "rate0.95")})


def influence_ensemble(config: dict) -> str:
    """The score ensemble whose members give influence.csv: influence.ensemble; else, with influence.crossfit
    (default), the best ensemble that chooses no memorized set (choosing_ensembles; docs/decisions.md:
    Cross-fitted leakage split): the study's own recipe (no `training` override) first, then the most
    members, then the rate closest to ablation.baseline's (Feldman & Zhang's), then config order; the
    reference where there is none (influence.json then says the pairs are not cross-fitted) or without
    crossfit."""
    spec = config.get("influence") or {}
    if spec.get("ensemble"):
        return spec["ensemble"]
    ens, chosen = config["ensembles"], choosing_ensembles(config)
    free = [e for e in ens if e not in chosen]
    if not spec.get("crossfit", True) or not free:
        return reference(config)
    base = ens.get((config.get("ablation") or {}).get("baseline"), {}).get("rate", 0.7)
    own = {e: bool(ens[e].get("training")) for e in free}
    return min(free, key=lambda e: (own[e], -ens[e]["members"], abs(ens[e]["rate"] - base)))


def training(config: dict, dataset: str, arch: str, ens: str | None = None) -> dict:
    """The training recipe for one job: global < dataset < architecture < ensemble overrides."""
    out = deepcopy(config["training"])
    layers = [
        config["datasets"][dataset].get("training", {}),
        config["datasets"][dataset]["archs"][arch] or {},
    ]
    if ens is not None:
        layers.append(config["ensembles"][ens].get("training", {}))
    for layer in layers:
        out.update(deepcopy(layer))
    return out


def weight_decay(config: dict, dataset: str, arch: str, ens: str) -> float:
    return training(config, dataset, arch, ens)["weight_decay"]


def stable_seed(config: dict, *parts) -> int:
    """A seed from the master seed and names: stable across runs and machines (no Python hash())."""
    return (config["seed"] * 1_000_003 + zlib.crc32("/".join(map(str, parts)).encode())) % (2**31)


# Keys of a dataset entry the loaders do not read: what is studied on it, and the duplicate list's source
# (read by the duplicates rule alone, through its input).
NOT_LOADER = ("archs", "training", "members", "utility_seeds", "duplicates", "min_side", REPLICATE_KEY)
# How an image folder is read, not which images: the in-memory and streaming loaders give the same member
# (tests/test_stream.py), so these are run-only like training.batched (jobs read them from the config).
LOADER_RUN_ONLY = ("loader", "loader_workers", "gpu_decode")
# the four MNIST-format IDX files of memgen.kinds.IDX_KINDS (memgen.data.idx)
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# where Debian's dataset-fashion-mnist installs them
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")


def folder_base(name: str, spec: dict, root: Path) -> Path:
    """The folder of an image folder dataset: its `root`, else <data_root>/<name>."""
    return Path(spec.get("root", Path(root) / name))


def idx_folders(spec: dict, root: Path) -> list[Path]:
    """Where an IDX dataset is looked for, in order: its `root` alone, else Debian's folder, then
    <data_root>/fashion-mnist. The loader reads the first holding all four files; the index fingerprints
    every one (memgen.params.fingerprint)."""
    if "root" in spec:
        return [Path(spec["root"])]
    return [FASHION_DEBIAN, Path(root) / "fashion-mnist"]


def loader_spec(config: dict, dataset: str, new_test_set: bool = True) -> dict:
    """What the data loader needs, and nothing else: a change here (e.g. split seed) invalidates everything
    that reads the dataset. Score members never evaluate the new test set, so theirs leaves it out."""
    entry = config["datasets"][dataset]
    spec = {k: v for k, v in entry.items() if k not in NOT_LOADER + LOADER_RUN_ONLY}
    if not new_test_set:
        spec.pop("new_test_set", None)
    if entry.get("kind", dataset) not in BUNDLED and "root" not in entry:
        spec["data_root"] = config["data_root"]
    return spec


def loader_run(config: dict | None, dataset: str) -> dict:
    """The run-only loader keys of a dataset (loader, loader_workers, gpu_decode) as the config sets them."""
    entry = (config or {}).get("datasets", {}).get(dataset, {})
    return {k: entry[k] for k in LOADER_RUN_ONLY if k in entry}


def min_side(config: dict, dataset: str) -> int:
    """Smallest image side an image folder accepts: by default image_size / 8, as more upsampling adds no
    detail (docs/decisions.md: Smallest image side)."""
    entry = config["datasets"][dataset]
    return int(entry.get("min_side") or max(1, int(entry.get("image_size", 32)) // 8))


def member_recipe(config: dict, dataset: str, arch: str, ens: str | None = None) -> dict:
    """The training settings a model's weights depend on: `training()` minus how the job runs (checkpoint
    interval, batching, ...) and minus the CUDA-only precision flags (see TrainConfig.recipe)."""

    recipe = {
        k: v for k, v in training(config, dataset, arch, ens).items() if k not in RUN_ONLY + DEVICE_ONLY
    }
    # keys added after results exist enter params only when set: upgrading memgen retrains nothing whose
    # recipe did not change
    for key in ADDED_OFF:
        if not recipe.get(key):
            recipe.pop(key, None)
    return recipe


ADDED_OFF = ("random_resized_crop",)  # recipe keys whose default (off) is what members did before them


def member_seed(config: dict, dataset: str, arch: str, ens: str, k: int) -> int:
    """Member k's seed (init, batch order, augmentation): from the master seed and its identity alone."""
    return stable_seed(config, dataset, arch, ens, "member", k)


def check_mask_spec(rate: float, members: int, block_size: int, where: str = "ensemble") -> None:
    if not 0 < rate < 1:
        raise fail(f"{where}: rate {rate} is outside (0, 1)", "use a fraction such as 0.7 or 0.95")
    if block_size < 2:
        raise fail(f"masks.block_size = {block_size} is below 2", "use e.g. 32 or 64")
    if members <= 0 or members % block_size:
        raise fail(
            f"{where}: members = {members} is not a positive multiple of masks.block_size = {block_size}",
            "use "
            + " or ".join(
                f"{m} members"
                for m in sorted(
                    {max(1, members // block_size) * block_size, (members // block_size + 1) * block_size}
                )
            )
            + ", or change masks.block_size",
        )
    m = round(rate * block_size)
    if m in (0, block_size):
        raise fail(
            f"{where}: rate {rate} with block_size {block_size} puts every point in {m} of {block_size} "
            "members, "
            "so no point is ever held out (or ever trained on)",
            "raise masks.block_size or move the rate away from 0 and 1",
        )
