"""bias_act: the reference op against numpy formulas, its first and second order gradients, the
header math through a CPU loop (the arithmetic the CUDA kernel runs) and, on a GPU, CUDA against ref."""
import math
import pathlib

import numpy as np
import pytest
import torch

from host_math import build_host_module
from torch_utils.custom_ops import CudaOpUnavailable
from torch_utils.ops import bias_act as ba
from torch_utils.ops.bias_act import bias_act

ACTS = ["linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish"]
SQRT2 = math.sqrt(2)
DEFAULTS = {"relu": (0.0, SQRT2), "lrelu": (0.2, SQRT2), "swish": (0.0, SQRT2), "elu": (1.0, 1.0)}
SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772
NEEDS_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def numpy_act(act: str, x: np.ndarray, alpha: float) -> np.ndarray:
    """The activations written out independently of the op (and of torch)."""
    if act == "linear":
        return x
    if act == "relu":
        return np.maximum(x, 0)
    if act == "lrelu":
        return np.where(x > 0, x, alpha * x)
    if act == "tanh":
        return np.tanh(x)
    if act == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if act == "elu":
        return np.where(x > 0, x, alpha * np.expm1(x))
    if act == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(x))
    if act == "softplus":
        return np.logaddexp(0, x)
    return x / (1 + np.exp(-x))


def inputs(shape, dim, dtype=torch.float64, seed=0, device="cpu"):
    """Random x, b with x + b at least 0.05 from 0, where the activations have kinks (in bf16 x = -b
    happens, and there the kernel and PyTorch pick different one-sided second derivatives)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 1.5
    b = torch.randn([shape[dim]], generator=gen, dtype=torch.float64)
    b_shape = [1] * len(shape)
    b_shape[dim] = -1
    xb = x + b.reshape(b_shape)
    x = torch.where(xb.abs() < 0.05, x + 0.1 * torch.sign(xb + 1e-9), x)
    return x.to(device, dtype), b.to(device, dtype)


@pytest.mark.parametrize("clamp", [None, 0.7])
@pytest.mark.parametrize("act", ACTS)
def test_ref_matches_numpy_with_default_alpha_and_gain(act, clamp):
    x, b = inputs([2, 3, 4, 5], dim=1)
    alpha, gain = DEFAULTS.get(act, (0.0, 1.0))
    expect = numpy_act(act, x.numpy() + b.numpy()[None, :, None, None], alpha) * gain
    if clamp is not None:
        expect = np.clip(expect, -clamp, clamp)
    np.testing.assert_allclose(bias_act(x, b, act=act, clamp=clamp, impl="ref").numpy(), expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dim", [0, 2, -1])
def test_ref_bias_along_other_dims_with_explicit_alpha_and_gain(dim):
    x, b = inputs([3, 4, 5], dim=dim)
    shape = [1, 1, 1]
    shape[dim] = -1
    expect = numpy_act("lrelu", x.numpy() + b.numpy().reshape(shape), 0.1) * 3.0
    out = bias_act(x, b, dim=dim, act="lrelu", alpha=0.1, gain=3.0, impl="ref")
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-12)


def test_no_bias_and_argument_errors():
    x, _ = inputs([2, 3], dim=1)
    np.testing.assert_allclose(bias_act(x, act="relu").numpy(), np.maximum(x.numpy(), 0) * SQRT2)
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, act="gelu")
    with pytest.raises(ValueError, match="b must have shape"):
        bias_act(x, torch.zeros(2, dtype=x.dtype))
    with pytest.raises(ValueError, match="clamp"):
        bias_act(x, clamp=-1)
    with pytest.raises(CudaOpUnavailable):
        bias_act(x, impl="cuda")


@pytest.mark.parametrize("act", ACTS)
def test_ref_gradcheck_first_and_second_order(act):
    x, b = inputs([2, 3, 4], dim=1, seed=1)
    x.requires_grad_(True)
    b.requires_grad_(True)
    for clamp in (None, 0.9):
        fn = lambda x, b: bias_act(x, b, act=act, clamp=clamp, impl="ref")  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, b))
        assert torch.autograd.gradgradcheck(fn, (x, b))


# The CPU loop over bias_act.h, wrapped to look like the CUDA plugin, so the autograd wiring of the
# CUDA path (bias_act._BiasAct) runs on CPU with the kernel's own arithmetic.
@pytest.fixture(scope="module")
def host_plugin():
    module = build_host_module("bias_act_host", pathlib.Path(__file__).parent / "host" / "bias_act_host.cpp")

    class HostPlugin:
        @staticmethod
        def bias_act(x, b, dy, ddx, dim, mode, act, alpha, gain, clamp):
            fn = module.bias_act_f64 if x.dtype == torch.float64 else module.bias_act_f32
            arrays = [t.detach().contiguous().numpy() for t in (x, b, dy, ddx)]
            stride = math.prod(x.shape[dim + 1:])
            return torch.from_numpy(fn(*arrays, stride, x.shape[dim], mode, act, alpha, gain, clamp))

    return HostPlugin


def host_op(plugin, x, b, act, clamp, dim=1):
    spec = ba.ACTIVATIONS[act]
    return ba._BiasAct.apply(x, b, ba._Kernel(plugin, dim % x.ndim, spec.code, spec.alpha, spec.gain, clamp))


def values_and_two_orders(op, x, b, seed=2):
    """y, (dx, db) for a fixed dy, and the gradient of <(dx, db), (wx, wb)> w.r.t. (x, b, dy)."""
    gen = torch.Generator().manual_seed(seed)
    x = x.detach().requires_grad_(True)
    b = b.detach().requires_grad_(True)
    y = op(x, b)
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(y).requires_grad_(True)
    dx, db = torch.autograd.grad(y, [x, b], dy, create_graph=True)
    wx = torch.randn(dx.shape, generator=gen, dtype=torch.float64).to(dx)
    wb = torch.randn(db.shape, generator=gen, dtype=torch.float64).to(db)
    second = torch.autograd.grad((dx * wx).sum() + (db * wb).sum(), [x, b, dy], materialize_grads=True)
    return [y, dx, db, *second]


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-11), (torch.float32, 2e-5)])
@pytest.mark.parametrize("clamp", [None, 0.9])
@pytest.mark.parametrize("act", ACTS)
def test_host_kernel_math_matches_ref(host_plugin, act, clamp, dtype, tol):
    x, b = inputs([2, 3, 4, 5], dim=1, seed=3, dtype=dtype)
    ours = values_and_two_orders(lambda x, b: host_op(host_plugin, x, b, act, clamp), x, b)
    ref = values_and_two_orders(lambda x, b: bias_act(x, b, act=act, clamp=clamp, impl="ref"), x, b)
    for name, got, want in zip(["y", "dx", "db", "d2x", "d2b", "d2dy"], ours, ref):
        torch.testing.assert_close(got, want, rtol=tol, atol=tol, msg=lambda m: f"{act} {name}: {m}")


@pytest.mark.parametrize("act", ["lrelu", "tanh", "swish", "softplus"])
def test_host_kernel_path_gradchecks(host_plugin, act):
    x, b = inputs([3, 2, 4], dim=1, seed=4)
    x.requires_grad_(True)
    b.requires_grad_(True)
    fn = lambda x, b: host_op(host_plugin, x, b, act, 1.2)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, b))
    assert torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.gpu
@NEEDS_GPU
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.bfloat16, 2e-2)])
@pytest.mark.parametrize("clamp", [None, 1.0])
@pytest.mark.parametrize("act", ACTS)
def test_cuda_matches_ref(act, clamp, dtype, tol):
    """CUDA values and first/second order gradients in `dtype` vs the float64 reference on the same inputs.

    float32: rtol = atol = 1e-4 (the kernels build with --use_fast_math); bfloat16: 2e-2 (8-bit mantissa,
    one rounding of each output).
    """
    x, b = inputs([4, 16, 8, 8], dim=1, seed=5, dtype=dtype, device="cuda")
    ours = values_and_two_orders(lambda x, b: bias_act(x, b, act=act, clamp=clamp, impl="cuda"), x, b)
    ref = values_and_two_orders(lambda x, b: bias_act(x, b, act=act, clamp=clamp, impl="ref"), x.double(), b.double())
    for name, got, want in zip(["y", "dx", "db", "d2x", "d2b", "d2dy"], ours, ref):
        assert got.dtype == dtype
        scale = 1.0 if name not in ("db", "d2b") else math.sqrt(x.numel() / x.shape[1])  # sums of many terms
        torch.testing.assert_close(got.double(), want, rtol=tol, atol=tol * scale, msg=lambda m: f"{act} {name}: {m}")
