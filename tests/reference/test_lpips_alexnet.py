"""Our AlexNet features and LPIPS against the real ``lpips`` package (and torchvision's AlexNet).

lpips.LPIPS(net='alex', pnet_rand=True) builds torchvision's AlexNet with random init (seeded here)
and its shipped v0.1 linear heads (a file inside the package, no download). Its backbone is written to
a torchvision-format file (``features.*`` plus a random ``classifier.*``, as alexnet-owt-7be5be79.pth
holds) and its heads to an lpips-format heads file; ours loads both through its real loaders.

Tolerance (float32): the same conv/ReLU/max-pool sequence on the same weights and inputs, so the only
freedom is float32 rounding order; features must agree within 1e-5 x their largest magnitude, LPIPS
within 1e-6 absolute (distances here are O(0.1-1): a few float32 ulps after the sums over layers).
"""
from __future__ import annotations

import re

import pytest

WHY = "not installed: reference check only (make test-reference)"
torchvision = pytest.importorskip("torchvision", reason=f"torchvision {WHY}")
lpips = pytest.importorskip("lpips", reason=f"lpips {WHY}")

import torch  # noqa: E402

from training.metrics.feature_nets.alexnet import load_alexnet  # noqa: E402
from training.metrics.perceptual import HEAD_KEYS, LPIPS  # noqa: E402

# lpips 0.1.4 calls torchvision's alexnet(pretrained=False), deprecated since torchvision 0.13
pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated since 0.13:UserWarning")

FEATURE_RTOL = 1e-5
LPIPS_ATOL = 1e-6


@pytest.fixture(scope="module")
def real_lpips():
    torch.manual_seed(0)
    return lpips.LPIPS(net="alex", version="0.1", pnet_rand=True, verbose=False).eval()


@pytest.fixture(scope="module")
def weight_files(real_lpips, tmp_path_factory):
    """(torchvision AlexNet file, lpips heads file) holding the real model's random weights."""
    folder = tmp_path_factory.mktemp("alexnet")
    torch.manual_seed(1)
    tv = torchvision.models.alexnet(weights=None)
    backbone = {}
    for key, value in real_lpips.net.state_dict().items():
        m = re.fullmatch(r"slice\d\.(\d+)\.(weight|bias)", key)
        assert m, f"unexpected lpips backbone key {key}"
        backbone[f"features.{m[1]}.{m[2]}"] = value
    missing, unexpected = tv.load_state_dict(backbone, strict=False)
    assert not unexpected and all(k.startswith("classifier.") for k in missing), (missing, unexpected)
    torch.save(tv.state_dict(), folder / "alexnet.pth")
    # lpips's state dict names each head twice (lin0..lin4 and the ModuleList lins.0..4): keep lin0..4
    heads = {k: v for k, v in real_lpips.state_dict().items() if re.fullmatch(r"lin\d\..*", k)}
    assert set(heads) == set(HEAD_KEYS), sorted(heads)
    torch.save(heads, folder / "heads.pth")
    return folder / "alexnet.pth", folder / "heads.pth", tv.eval()


def images(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 2 - 1


@pytest.mark.parametrize("size", [(64, 64), (72, 96)])
def test_alexnet_features_equal_lpips_and_torchvision(real_lpips, weight_files, measured, size, single_thread):
    ours = load_alexnet(weight_files[0])
    x = images((2, 3, *size), seed=2)
    with torch.no_grad():
        got = ours(x)
        want = list(real_lpips.net(real_lpips.scaling_layer(x)))
        # torchvision's own AlexNet.features on the same scaled input: the end of each relu stage
        h, tv_relus = real_lpips.scaling_layer(x), []
        for i, layer in enumerate(weight_files[2].features):
            h = layer(h)
            if i in (1, 4, 7, 9, 11):
                tv_relus.append(h)
    assert [g.shape for g in got] == [w.shape for w in want] == [t.shape for t in tv_relus]
    for k, (g, w, t) in enumerate(zip(got, want, tv_relus), start=1):
        scale = w.abs().max().item()
        assert scale > 0, f"relu{k} is all zero: the random weights test nothing"
        measured(f"AlexNet relu{k} {size[0]}x{size[1]} vs lpips", (g - w).abs().max().item(),
                 FEATURE_RTOL * scale, f"(max |feature| {scale:.3g})")
        assert (g - t).abs().max().item() <= FEATURE_RTOL * scale, f"relu{k} differs from torchvision's AlexNet"


@pytest.mark.parametrize("size", [(64, 64), (72, 96)])
def test_lpips_distance_equals_lpips(real_lpips, weight_files, measured, size, single_thread):
    ours = LPIPS(load_alexnet(weight_files[0]), weight_files[1])
    x, y = images((2, 3, *size), seed=3), images((2, 3, *size), seed=4)
    y[1] = x[1] + 0.05 * (y[1] - x[1])  # one near pair: a small distance too
    with torch.no_grad():
        got = ours(x, y)
        want = real_lpips(x, y, normalize=False).flatten()
    assert got.shape == want.shape == (2,)
    assert (want > 0).all()
    measured(f"LPIPS {size[0]}x{size[1]} vs lpips", (got - want).abs().max().item(), LPIPS_ATOL,
             f"(distances {', '.join(f'{v:.4g}' for v in want.tolist())})")


def test_lpips_gradient_equals_lpips(real_lpips, weight_files, measured, single_thread):
    """Our LPIPS is also a training loss: its input gradient must match lpips's too."""
    ours = LPIPS(load_alexnet(weight_files[0]), weight_files[1])
    x, y = images((2, 3, 64, 64), seed=5), images((2, 3, 64, 64), seed=6)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    ours(xa, y).sum().backward()
    real_lpips(xb, y, normalize=False).sum().backward()
    scale = xb.grad.abs().max().item()
    measured("LPIPS input gradient 64x64 vs lpips", (xa.grad - xb.grad).abs().max().item(), FEATURE_RTOL * scale,
             f"(max |grad| {scale:.3g})")
