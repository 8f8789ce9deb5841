"""The training recipe as the training loop reads it: one typed object, parsed once from the config at the
stage boundary (`TrainConfig.from_dict`), and the names of the architectures. No torch: config validation
and rule params read it while Snakemake plans."""

import hashlib
import json
from dataclasses import asdict, dataclass

# architectures memgen builds itself (memgen/ensemble/models.py) and those it takes from timm
SMALL = ("mlp", "cnn")
TIMM = ("resnet18", "resnet50", "vgg19_bn", "mobilenetv2_100")


@dataclass
class TrainConfig:
    """The training recipe. Values come from config.yaml `training` (merged per dataset/arch/ensemble)."""

    epochs: int = 60  # passes over the member's own subset
    batch_size: int = 128
    lr_peak: float = 0.1  # triangular schedule: 0 -> lr_peak over lr_warmup of the steps, then -> 0
    lr_warmup: float = 0.25
    momentum: float = 0.9  # SGD with Nesterov momentum, as in the paper
    nesterov: bool = True
    weight_decay: float = 5e-4
    crop_padding: int = 0  # random crop after zero-padding by this many pixels (4 for CIFAR, 0 = off)
    flip: bool = False  # random horizontal flip (CIFAR/ImageNet; wrong for digits)
    random_resized_crop: bool = False  # ImageNet's crop of 8-100 % of the original (streamed folders only)
    checkpoint_every: int = 10  # save resumable state every n epochs (0 = never)
    batched: bool = True  # on CPU, train a shard's members as one batched computation when possible
    bf16: bool = True  # CUDA only: bf16 autocast
    channels_last: bool = True  # CUDA only
    compile: bool = False  # torch.compile each model's forward (not yet measured to win on GPU: off)
    concurrent_members: int = 1  # models a job trains at once, each on its own CUDA stream (CPU: in turns)
    model: dict | None = None  # architecture options (e.g. hidden width)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """The recipe of a config's `training` dict or a checkpoint's "config"; other keys are ignored."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        """Every key of the config's `training`: a checkpoint's "config", read back by from_dict."""
        return asdict(self)

    def recipe(self, device: str = "cpu") -> dict:
        """The settings a trained model depends on: everything but how the job runs (RUN_ONLY), with the
        precision flags only where they act: on CUDA, the only device where they change numbers
        (docs/decisions.md: Precision flags only on CUDA)."""
        out = {k: v for k, v in asdict(self).items() if k not in RUN_ONLY}
        for flag in DEVICE_ONLY:
            out[flag] = bool(out[flag]) if device == "cuda" else None
        return out

    def digest(self, device: str = "cpu") -> str:
        return hashlib.sha256(json.dumps(self.recipe(device), sort_keys=True).encode()).hexdigest()[:16]


# How a job runs, not what it trains: never part of a member's identity (params, resume key). compile and
# concurrent_members give each member the same weights (bitwise on CPU, within float tolerance on CUDA).
RUN_ONLY = ("checkpoint_every", "batched", "compile", "concurrent_members")
# Flags that act on CUDA only (memgen's CPU path ignores them, unless a test asks: train(flags_on_cpu=True)).
DEVICE_ONLY = ("bf16", "channels_last")
