"""LPIPS and its substitute.

The AlexNet backbone in these tests is RANDOMLY initialised (seeded): the real ImageNet weights are
244 MB and never downloaded here. The LPIPS v0.1 linear heads are the real ones shipped in the lpips
package (read by path; lpips itself is never imported: it imports torchvision). Our LPIPS is compared
with an independent re-implementation of the lpips formula written below from its definition
(ScalingLayer, torchvision's AlexNet layer specs, normalize_tensor, 1x1 heads with no bias,
spatial_average, sum over layers), given the same random backbone weights.
"""
from __future__ import annotations

import dataclasses
import hashlib
import sys

import pytest
import torch
import torch.nn.functional as F

from training.metrics import weights
from training.metrics.feature_nets import AlexNetFeatures, load_alexnet
from training.metrics.image import ms_ssim
from training.metrics.perceptual import LPIPS, L1MSSSIMLoss, from_weights, ms_ssim_loss, perceptual_loss

# torchvision.models.alexnet().state_dict(): the keys and shapes alexnet-owt-7be5be79.pth holds
TORCHVISION_ALEXNET = {
    "features.0.weight": (64, 3, 11, 11), "features.0.bias": (64,),
    "features.3.weight": (192, 64, 5, 5), "features.3.bias": (192,),
    "features.6.weight": (384, 192, 3, 3), "features.6.bias": (384,),
    "features.8.weight": (256, 384, 3, 3), "features.8.bias": (256,),
    "features.10.weight": (256, 256, 3, 3), "features.10.bias": (256,),
    "classifier.1.weight": (4096, 9216), "classifier.1.bias": (4096,),
    "classifier.4.weight": (4096, 4096), "classifier.4.bias": (4096,),
    "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
}


def reference_lpips(state: dict[str, torch.Tensor], heads: dict[str, torch.Tensor], x: torch.Tensor,
                    y: torch.Tensor) -> torch.Tensor:
    """lpips.LPIPS(net='alex', version='0.1')(x, y) for x, y in [-1, 1], from its definition."""
    # ScalingLayer registers float32 buffers (torch.Tensor([...])); .to() follows the module's dtype
    shift = torch.Tensor([-.030, -.088, -.188]).to(x.dtype).view(1, 3, 1, 1)
    scale = torch.Tensor([.458, .448, .450]).to(x.dtype).view(1, 3, 1, 1)

    def conv(h, i, **kw):
        return F.relu(F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], **kw))

    def alexnet_relus(z):
        h1 = conv((z - shift) / scale, 0, stride=4, padding=2)
        h2 = conv(F.max_pool2d(h1, 3, 2), 3, padding=2)
        h3 = conv(F.max_pool2d(h2, 3, 2), 6, padding=1)
        h4 = conv(h3, 8, padding=1)
        h5 = conv(h4, 10, padding=1)
        return [h1, h2, h3, h4, h5]

    def normalize_tensor(f, eps=1e-10):
        return f / (torch.sqrt(torch.sum(f ** 2, dim=1, keepdim=True)) + eps)

    def spatial_average(t):
        return t.mean([2, 3], keepdim=True)

    val = 0
    for k, (fx, fy) in enumerate(zip(alexnet_relus(x), alexnet_relus(y))):
        diff = (normalize_tensor(fx) - normalize_tensor(fy)) ** 2
        val = val + spatial_average(F.conv2d(diff, heads[f"lin{k}.model.1.weight"]))
    return val.view(-1)


@pytest.fixture(scope="module")
def heads_path():
    path = weights.resolve("lpips_alex_v0.1")
    if path is None:
        pytest.skip("lpips package (its v0.1 heads) not installed: make venv installs it with --no-deps")
    return path


def _random_backbone(seed: int = 0) -> AlexNetFeatures:
    torch.manual_seed(seed)
    return AlexNetFeatures()


def _images(n=3, size=(64, 80), seed=1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, *size, generator=g, dtype=dtype) * 2 - 1
    y = (x + 0.3 * torch.randn(x.shape, generator=g, dtype=dtype)).clamp(-1, 1)
    return x, y


def test_alexnet_keys_match_torchvision():
    net = AlexNetFeatures()
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert ours == {k: s for k, s in TORCHVISION_ALEXNET.items() if k.startswith("features.")}
    # a full torchvision state dict loads: features strictly, the classifier dropped by name
    full = {k: torch.zeros(s) if k.startswith("features.") else torch.empty(s) for k, s in TORCHVISION_ALEXNET.items()}
    full["features.0.bias"] = torch.arange(64.0)
    net.load_torchvision_state_dict(full)
    assert torch.equal(net.features[0].bias, torch.arange(64.0))
    for bad, problem in (({**full, "features.1.weight": torch.zeros(1)}, "unexpected ['features.1.weight']"),
                         ({k: v for k, v in full.items() if k != "features.8.bias"}, "missing ['features.8.bias']"),
                         ({**full, "features.6.bias": torch.zeros(3)}, "wrong shape ['features.6.bias']")):
        with pytest.raises(ValueError, match=r"x\.pth: not torchvision AlexNet weights") as info:
            net.load_torchvision_state_dict(bad, source="x.pth")
        assert problem in str(info.value) and "\n" not in str(info.value)


def test_load_alexnet_file_and_bad_file(tmp_path):
    src = _random_backbone()
    torch.save(src.state_dict(), tmp_path / "a.pth")
    net = load_alexnet(tmp_path / "a.pth")
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), src.state_dict().values()))
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"junk\.pth: unreadable AlexNet weight file \("):
        load_alexnet(tmp_path / "junk.pth")


def test_relu_outputs_are_the_five_lpips_layers():
    feats = _random_backbone()(torch.zeros(2, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [64, 192, 384, 256, 256]
    assert all((f >= 0).all() for f in feats)
    with pytest.raises(ValueError, match="at least 31x31"):
        _random_backbone()(torch.zeros(1, 3, 24, 64))


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_lpips_equals_reference_formula(heads_path, dtype, tol):
    backbone = _random_backbone()
    model = LPIPS(backbone, heads_path).to(dtype)
    heads = torch.load(heads_path, map_location="cpu", weights_only=True)
    x, y = _images(dtype=dtype)
    ref = reference_lpips({k: v.to(dtype) for k, v in backbone.state_dict().items()},
                          {k: v.to(dtype) for k, v in heads.items()}, x, y)
    ours = model(x, y)
    assert ours.shape == (3,) and (ours > 0).all()
    assert torch.allclose(ours, ref, rtol=tol, atol=tol)


def test_lpips_identical_is_zero_symmetric_and_differentiable(heads_path):
    model = LPIPS(_random_backbone(), heads_path)
    x, y = _images()
    assert torch.equal(model(x, x), torch.zeros(3))
    assert torch.allclose(model(x, y), model(y, x))
    xg = x.clone().requires_grad_(True)
    model(xg, y).sum().backward()
    assert torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())
    assert "lpips" not in sys.modules and "torchvision" not in sys.modules


def test_bad_heads_file_is_one_line(tmp_path):
    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, tmp_path / "h.pth")
    with pytest.raises(ValueError, match=r"h\.pth: not LPIPS AlexNet heads \(expected keys"):
        LPIPS(AlexNetFeatures(), tmp_path / "h.pth")


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(weights.DIR_ENV, raising=False)
    monkeypatch.delenv(weights.get("alexnet").env, raising=False)
    return tmp_path


def test_missing_alexnet_gives_na_or_error(no_weights):
    model, reason = from_weights()
    assert model is None and reason == weights.describe_missing("alexnet")
    assert reason.startswith("n/a (weights missing: alexnet-owt-7be5be79.pth, sha256 7be5be79")
    with pytest.raises(weights.WeightsMissing, match="^weights missing: alexnet-owt-7be5be79.pth"):
        from_weights(strict=True)


def test_fallback_is_chosen_and_described(no_weights):
    loss, description = perceptual_loss()
    assert isinstance(loss, L1MSSSIMLoss)
    assert description.startswith("L1 + (1 - MS-SSIM) substitute, LPIPS n/a (weights missing: "
                                  "alexnet-owt-7be5be79.pth")
    assert description.endswith("get it with python -m _scripts.weights --download --only alexnet")
    assert "\n" not in description
    x, y = _images(size=(64, 64))
    expected = (x - y).abs().mean(dim=(1, 2, 3)) / 2 + 1 - ms_ssim((x + 1) / 2, (y + 1) / 2)
    assert torch.allclose(loss(x, y), expected)
    assert torch.allclose(ms_ssim_loss(x, y), 1 - ms_ssim((x + 1) / 2, (y + 1) / 2))
    assert torch.allclose(loss(x, x), torch.zeros(3), atol=1e-6)
    xg = x.clone().requires_grad_(True)
    loss(xg, y).sum().backward()
    assert torch.isfinite(xg.grad).all()


def test_lpips_chosen_when_weights_resolve(no_weights, monkeypatch, heads_path):
    """With a (random, stand-in) AlexNet file registered under its hash, the policy finds it and
    both from_weights and perceptual_loss build LPIPS from it."""
    backbone = _random_backbone(3)
    path = no_weights / "alexnet-owt-7be5be79.pth"
    torch.save(backbone.state_dict(), path)
    entry = dataclasses.replace(weights.get("alexnet"), sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    monkeypatch.setitem(weights.REGISTRY, "alexnet", entry)
    monkeypatch.setenv(weights.DIR_ENV, str(no_weights))
    model, description = from_weights()
    assert isinstance(model, LPIPS) and str(path) in description and str(heads_path) in description
    x, y = _images()
    heads = torch.load(heads_path, map_location="cpu", weights_only=True)
    assert torch.allclose(model(x, y), reference_lpips(backbone.state_dict(), heads, x, y), atol=1e-6)
    loss, description = perceptual_loss()
    assert isinstance(loss, LPIPS) and description.startswith("LPIPS AlexNet v0.1")
