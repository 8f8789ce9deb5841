"""The dataset kinds memgen reads (`datasets.<name>.kind`, default the dataset's name), in one table.

Every other list of kinds derives from KINDS: the config's check (memgen.config.validate names the known
kinds), the loaders (memgen.data.loaders.loaders() has one per kind, tests/test_data.py), what the dataset
index depends on on disk (memgen.params.fingerprint, memgen.data.index). Torch-free: planning imports it.
"""

from typing import NamedTuple


class Kind(NamedTuple):
    """Where a kind's data comes from: `bundled` (shipped or generated: data_root does not matter), `folder`
    (an image folder of train/<class>/ and test/<class>/), `idx` (the four MNIST-format IDX files,
    memgen.data.idx), `cifar` (torchvision's pickles in `folder` under the dataset's root); and whether it
    draws a training subset (`datasets.<name>.subset`)."""

    source: str
    folder: str | None = None
    subset: bool = False


KINDS = {
    "digits": Kind("bundled"),
    "longtail": Kind("bundled"),
    "cifar10": Kind("cifar", folder="cifar-10-batches-py"),
    "cifar100": Kind("cifar", folder="cifar-100-python"),
    "fashion_mnist": Kind("idx", subset=True),
    "imagenet": Kind("folder"),
    "imagefolder": Kind("folder"),
}


def of_source(source: str) -> tuple[str, ...]:
    return tuple(k for k, v in KINDS.items() if v.source == source)


BUNDLED = of_source("bundled")  # never read from disk
FOLDER_KINDS = of_source("folder")
IDX_KINDS = of_source("idx")
CIFAR_FOLDERS = {k: v.folder for k, v in KINDS.items() if v.source == "cifar"}
SUBSET_KINDS = tuple(k for k, v in KINDS.items() if v.subset)


def kind_of(name: str, spec: dict | None) -> str:
    """The kind of dataset `name` with config entry `spec`: its `kind`, else its name."""
    return (spec or {}).get("kind", name)
