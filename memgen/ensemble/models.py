"""Architectures: small MLP/CNN for 8x8 digits, timm models adapted to 32x32 (or unchanged for ImageNet)."""

import torch
from torch import nn

from memgen.errors import fail
from memgen.recipe import SMALL, TIMM


class MLP(nn.Module):
    def __init__(self, in_shape, num_classes, hidden=128):
        super().__init__()
        c, h, w = in_shape
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, num_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.fc(self.body(x))


class CNN(nn.Module):
    """conv16 -> pool -> conv32 -> pool -> fc; no normalisation layers so members can be vmapped."""

    def __init__(self, in_shape, num_classes, width=16):
        super().__init__()
        c, h, w = in_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.fc = nn.Linear(2 * width * (h // 4) * (w // 4), num_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.fc(self.body(x))


def _adapt_small_inputs(model: nn.Module, arch: str) -> nn.Module:
    """CIFAR adaptation: 3x3 stride-1 stem and no max-pool, so 32x32 inputs keep their resolution."""
    import timm.layers

    if arch.startswith("resnet"):
        c_in, c_out = model.conv1.in_channels, model.conv1.out_channels  # grayscale inputs keep 1 channel
        model.conv1 = nn.Conv2d(c_in, c_out, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif arch.startswith("mobilenetv2"):
        model.conv_stem.stride = (1, 1)
    elif arch.startswith("vgg"):
        # timm keeps VGG's 4096-wide ImageNet ConvMlp head (139.6 M parameters); the CIFAR VGG-19 in
        # common use has a 512 -> classes head (~20 M), so swap it.
        model.pre_logits = nn.Identity()
        model.head = timm.layers.ClassifierHead(512, model.num_classes, pool_type="avg")
        model.num_features = 512
    return model


def build_model(arch: str, in_shape, num_classes: int, options: dict | None = None) -> nn.Module:
    """Model for inputs of shape (C, H, W). `options` holds arch keys from the config (e.g. hidden)."""
    options = options or {}
    if arch == "mlp":
        return MLP(in_shape, num_classes, hidden=options.get("hidden", 128))
    if arch == "cnn":
        return CNN(in_shape, num_classes, width=options.get("width", 16))
    if arch in TIMM:
        import timm

        model = timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=in_shape[0])
        return _adapt_small_inputs(model, arch) if in_shape[1] <= 64 else model
    raise fail(f"unknown architecture '{arch}'", f"use one of {', '.join(SMALL + TIMM)}")


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Penultimate-layer features (for the near-duplicate detector)."""
    if hasattr(model, "features") and not hasattr(model, "forward_head"):
        return model.features(x)
    return model.forward_head(model.forward_features(x), pre_logits=True)
