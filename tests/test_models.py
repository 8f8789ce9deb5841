"""Architectures: every one builds and runs; the CIFAR (32x32) adaptation of the timm models."""

import pytest
import torch
from torch import nn

from memgen.ensemble.models import build_model, features, has_batchnorm
from memgen.errors import MemgenError

_BUILT: dict = {}


def cifar(arch: str) -> nn.Module:
    """One 32x32 build per architecture for the whole module (timm models take a second each)."""
    if arch not in _BUILT:
        torch.manual_seed(0)
        _BUILT[arch] = build_model(arch, (3, 32, 32), 10).eval()
    return _BUILT[arch]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "arch,feat",
    [
        ("mlp", 128),
        ("cnn", 32 * 8 * 8),
        ("resnet18", 512),
        ("resnet50", 2048),
        ("vgg19_bn", 512),
        ("mobilenetv2_100", 1280),
    ],
)
def test_builds_and_runs_on_32x32(arch, feat):
    model = cifar(arch)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        f = features(model, x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert f.shape == (2, feat)


def test_resnet18_stem_is_3x3_stride_1_without_maxpool():
    m = cifar("resnet18")
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (1, 1) and m.conv1.padding == (1, 1)
    assert isinstance(m.maxpool, nn.Identity)
    # the resolution is kept through the stem: 32x32 in, 64 x 32x32 out
    with torch.no_grad():
        assert m.forward_features(torch.zeros(1, 3, 32, 32)).shape == (1, 512, 4, 4)
    # ImageNet-sized inputs keep timm's 7x7 stride-2 stem
    big = build_model("resnet18", (3, 224, 224), 10)
    assert big.conv1.kernel_size == (7, 7) and big.conv1.stride == (2, 2)


def test_resnet_stem_keeps_input_channels():
    # grayscale images (digits, or a grayscale image folder) through the adapted stem
    m = build_model("resnet18", (1, 16, 16), 4).eval()
    with torch.no_grad():
        assert m(torch.zeros(2, 1, 16, 16)).shape == (2, 4)


def test_vgg19_bn_has_the_cifar_head():
    m = cifar("vgg19_bn")
    # 16 3x3 conv layers 3->64->64->128->128->256x4->512x8 with BN: 20,035,392 parameters,
    # + a 512 -> 10 linear head (5,130): ~20.0 M, not timm's 139.6 M with its 4096-wide ConvMlp
    convs = [3, 64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
    # per conv: 3x3 weights, bias, BN scale and shift
    body = sum(9 * a * b + b + 2 * b for a, b in zip(convs[:-1], convs[1:], strict=True))
    assert n_params(m) == body + 512 * 10 + 10
    assert 19.9e6 < n_params(m) < 20.2e6
    with torch.no_grad():
        assert features(m, torch.zeros(1, 3, 32, 32)).shape == (1, 512)


def test_mobilenet_stem_stride_1():
    m = cifar("mobilenetv2_100")
    assert m.conv_stem.stride == (1, 1)
    with torch.no_grad():
        assert m.forward_features(torch.zeros(1, 3, 32, 32)).shape[-1] == 2  # total stride 16, not 32


def test_small_models_on_digits_shape():
    mlp = build_model("mlp", (1, 8, 8), 10, {"hidden": 16})
    assert n_params(mlp) == 64 * 16 + 16 + 16 * 10 + 10
    cnn = build_model("cnn", (1, 8, 8), 10, {"width": 4})
    # conv 1->4 (3x3) + conv 4->8 (3x3) + fc 8*2*2 -> 10
    assert n_params(cnn) == (9 * 4 + 4) + (36 * 8 + 8) + (32 * 10 + 10)
    assert features(cnn, torch.zeros(3, 1, 8, 8)).shape == (3, 32)
    assert not has_batchnorm(mlp) and not has_batchnorm(cnn)
    assert has_batchnorm(cifar("resnet18"))


def test_same_seed_same_init():
    torch.manual_seed(4)
    a = build_model("cnn", (1, 8, 8), 10)
    torch.manual_seed(4)
    b = build_model("cnn", (1, 8, 8), 10)
    for (na, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), na


def test_unknown_arch():
    with pytest.raises(MemgenError, match="unknown architecture 'resnet19'.*resnet18"):
        build_model("resnet19", (3, 32, 32), 10)
