"""upfirdn2d: the reference op against numpy zero insertion + scipy convolve2d, the resampling helpers'
conventions, gradients of first and second order, the tap arithmetic of upfirdn2d.h through a CPU loop
(also driving the CUDA path's autograd wiring on CPU) and, on a GPU, CUDA against ref."""
import math
import pathlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.signal import convolve2d

from host_math import build_host_module
from torch_utils.custom_ops import CudaOpUnavailable
from torch_utils.ops import upfirdn2d as uf
from torch_utils.ops.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

NEEDS_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
# (up, down, padding, flip_filter, gain, filter shape [fh, fw])
CONFIGS = [
    (1, 1, 0, False, 1.0, (3, 3)),
    (2, 1, (2, 1, 2, 1), False, 4.0, (4, 4)),
    (1, 2, (1, 1, 1, 1), False, 1.0, (4, 4)),
    ((2, 3), (1, 2), (1, -1, 0, 2), True, 0.5, (3, 5)),
    (3, 2, (-1, 2, 2, -1), False, 1.5, (2, 3)),
    (1, 1, (-2, -1, 0, 0), True, 1.0, (1, 1)),
    ((1, 2), (3, 1), (0, 3, 4, 0), False, 2.0, (5, 2)),
]
IDS = [f"cfg{i}" for i in range(len(CONFIGS))]


# tiny float64 convolutions run many times slower on 2 threads than on 1 (thread start-up per call)
pytestmark = pytest.mark.usefixtures("single_thread")


def pairs(v):
    return (v, v) if isinstance(v, int) else v


def scipy_upfirdn2d(x, f, up, down, padding, flip, gain):
    """Zero insertion, padding or cropping, a true 2-D convolution per channel, subsampling."""
    (upx, upy), (downx, downy) = pairs(up), pairs(down)
    px0, px1, py0, py1 = (padding,) * 4 if isinstance(padding, int) else padding
    n, c, h, w = x.shape
    z = np.zeros((n, c, h * upy, w * upx))
    z[:, :, ::upy, ::upx] = x
    z = np.pad(z, [(0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))])
    z = z[:, :, max(-py0, 0): z.shape[2] - max(-py1, 0), max(-px0, 0): z.shape[3] - max(-px1, 0)]
    k = f[::-1, ::-1] if flip else f
    out = np.stack([np.stack([convolve2d(plane, k, mode="valid") for plane in image]) for image in z])
    return out[:, :, ::downy, ::downx] * gain


def case(fshape, seed=0, x_shape=(2, 3, 7, 6)):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(x_shape, generator=gen, dtype=torch.float64), torch.randn(fshape, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("up,down,padding,flip,gain,fshape", CONFIGS, ids=IDS)
def test_ref_matches_scipy(up, down, padding, flip, gain, fshape):
    x, f = case(fshape)
    out = upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip, gain=gain, impl="ref")
    expect = scipy_upfirdn2d(x.numpy(), f.numpy(), up, down, padding, flip, gain)
    assert out.shape == expect.shape
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-12, atol=1e-12)


def test_separable_filter_equals_its_outer_product():
    x, _ = case((1, 1))
    taps = torch.tensor([1.0, -2.0, 4.0, 3.0, 0.5], dtype=torch.float64)
    kw = dict(up=(2, 1), down=(1, 3), padding=(2, 1, 3, -1), flip_filter=True, gain=2.0, impl="ref")
    torch.testing.assert_close(upfirdn2d(x, taps, **kw), upfirdn2d(x, torch.outer(taps, taps), **kw))


def test_setup_filter_conventions():
    torch.testing.assert_close(setup_filter([1, 3, 3, 1]), torch.outer(*[torch.tensor([1.0, 3, 3, 1]) / 8] * 2))
    assert setup_filter(None).shape == (1, 1) and setup_filter(None).item() == 1
    assert setup_filter(torch.ones(8)).shape == (8,)  # 8 or more taps stay separable
    assert setup_filter([1, 2], separable=True).shape == (2,)
    assert math.isclose(setup_filter([1, 3, 3, 1], gain=4).sum().item(), 4, rel_tol=1e-6)
    assert math.isclose(setup_filter(torch.ones(8), gain=4).sum().item(), 2, rel_tol=1e-6)  # per pass: sqrt(gain)
    torch.testing.assert_close(setup_filter([[1, 2], [3, 4]], normalize=False, flip_filter=True),
                               torch.tensor([[4.0, 3], [2, 1]]))
    with pytest.raises(ValueError):
        setup_filter(torch.ones(2, 2, 2))


def test_helpers_keep_sizes_and_match_familiar_ops():
    x, _ = case((1, 1), x_shape=(2, 3, 8, 6))
    box = setup_filter([1, 1])
    nearest = x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    torch.testing.assert_close(upsample2d(x, box), nearest)
    torch.testing.assert_close(downsample2d(x, box), F.avg_pool2d(x, 2))
    blur = torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=torch.float64) / 16
    same = np.stack([np.stack([convolve2d(p, blur.numpy(), mode="same") for p in im]) for im in x.numpy()])
    np.testing.assert_allclose(filter2d(x, blur).numpy(), same, rtol=1e-12, atol=1e-12)
    smooth = setup_filter([1, 3, 3, 1])
    assert upsample2d(x, smooth).shape == (2, 3, 16, 12)
    assert downsample2d(x, smooth, padding=1).shape == (2, 3, 5, 4)
    ones = torch.ones(1, 1, 8, 8)
    torch.testing.assert_close(upsample2d(ones, smooth)[..., 2:-2, 2:-2], torch.ones(1, 1, 12, 12))
    torch.testing.assert_close(downsample2d(ones, smooth)[..., 1:-1, 1:-1], torch.ones(1, 1, 2, 2))


def test_argument_errors():
    x, f = case((3, 3))
    with pytest.raises(ValueError, match="up"):
        upfirdn2d(x, f, up=0)
    with pytest.raises(ValueError, match="padding"):
        upfirdn2d(x, f, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="N, C, H, W"):
        upfirdn2d(x[0], f)
    with pytest.raises(CudaOpUnavailable):
        upfirdn2d(x, f, impl="cuda")


@pytest.mark.parametrize("index", [1, 3, 4])
def test_ref_gradcheck_first_and_second_order(index):
    up, down, padding, flip, gain, fshape = CONFIGS[index]
    x, f = case(fshape, x_shape=(1, 2, 5, 4))
    x.requires_grad_(True)
    fn = lambda x: upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip, gain=gain, impl="ref")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


# The CPU loop over upfirdn2d.h, wrapped to look like the CUDA plugin.
@pytest.fixture(scope="module")
def host_plugin():
    module = build_host_module("upfirdn2d_host", pathlib.Path(__file__).parent / "host" / "upfirdn2d_host.cpp")

    class HostPlugin:
        @staticmethod
        def upfirdn2d(x, f, *settings):
            out = module.upfirdn2d(x.detach().double().numpy(), f.detach().double().numpy(), *settings)
            return torch.from_numpy(out).to(x.dtype)

    return HostPlugin


def host_upfirdn2d(plugin, x, f, up, down, padding, flip, gain):
    """upfirdn2d's CUDA path (autograd Function, adjoint gradients) with the CPU loop as its kernel."""
    (upx, upy), (downx, downy) = pairs(up), pairs(down)
    pad = uf._padding(padding)
    return uf._run(plugin, x, f, uf._Resample(upx, upy, downx, downy, *pad, flip, gain))


@pytest.mark.parametrize("up,down,padding,flip,gain,fshape", CONFIGS, ids=IDS)
def test_host_kernel_math_matches_ref(host_plugin, up, down, padding, flip, gain, fshape):
    x, f = case(fshape, seed=1)
    out = host_upfirdn2d(host_plugin, x, f, up, down, padding, flip, gain)
    ref = upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=flip, gain=gain, impl="ref")
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("up,down,padding,flip,gain,fshape", CONFIGS, ids=IDS)
def test_host_kernel_path_gradients_are_adjoint_upfirdn2d(host_plugin, up, down, padding, flip, gain, fshape):
    x, f = case(fshape, seed=2, x_shape=(1, 2, 5, 4))
    x.requires_grad_(True)
    fn = lambda x: host_upfirdn2d(host_plugin, x, f, up, down, padding, flip, gain)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,))
    assert torch.autograd.gradgradcheck(fn, (x,))


@pytest.mark.gpu
@NEEDS_GPU
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize("up,down,padding,flip,gain,fshape", CONFIGS, ids=IDS)
def test_cuda_matches_ref(up, down, padding, flip, gain, fshape, dtype, tol):
    """CUDA values and first/second order input gradients in `dtype` vs the float64 reference.

    float32: rtol = atol = 1e-5 times the gain-scaled filter's L1 norm (squared for the gradients, which
    pass the filter twice); bfloat16: 2e-2 likewise (a rounding per pass, inputs already bf16).
    """
    x, f = case(fshape, seed=3, x_shape=(4, 8, 16, 12))
    x, f = x.cuda().to(dtype), f.cuda().float()
    v = torch.ones_like(x, dtype=torch.float64).cumsum(-1).sin()
    kw = dict(up=up, down=down, padding=padding, flip_filter=flip, gain=gain)
    outs = []
    for impl, xi in (("cuda", x), ("ref", x.double())):
        xi = xi.detach().requires_grad_(True)
        y = upfirdn2d(xi, f.to(xi.dtype) if impl == "ref" else f, impl=impl, **kw)
        (dx,) = torch.autograd.grad(y.square().sum() / 2, xi, create_graph=True)  # A^T A x
        (d2,) = torch.autograd.grad((dx * v.to(dx)).sum(), xi)  # A^T A v: the backward of the backward
        outs.append((y, dx, d2))
    scale = f.abs().sum().item() * abs(gain)
    for name, got, want in zip(["y", "dx", "d2x"], *outs):
        assert got.dtype == dtype
        s = scale ** (1 if name == "y" else 2)
        torch.testing.assert_close(got.double(), want, rtol=tol, atol=tol * s, msg=lambda m: f"{name}: {m}")


@pytest.mark.gpu
@NEEDS_GPU
def test_cuda_helpers_and_separable_filter_match_ref():
    x = torch.randn(2, 4, 16, 16, device="cuda")
    for f in (setup_filter([1, 3, 3, 1], "cuda"), setup_filter(torch.arange(1.0, 9.0), "cuda")):
        for fn in (upsample2d, downsample2d, filter2d):
            torch.testing.assert_close(fn(x, f, impl="cuda"), fn(x, f, impl="ref"), rtol=1e-5, atol=1e-5)
