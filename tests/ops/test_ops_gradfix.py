"""conv2d_gradfix and grid_sample: PyTorch's double backward of conv2d / conv_transpose2d (what the EG3D
ops patched) against formulations written here, proof that a first-order gradient w.r.t. the input
alone computes no weight gradient (why no_weight_gradients is absent), and grid_sample's two paths
(PyTorch where it has double backward, the gather formulation otherwise) against hand values,
each other and gradgradcheck."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from torch_utils.ops.conv2d_gradfix import conv2d, conv_transpose2d
from torch_utils.ops.grid_sample import gather_grid_sample, grid_sample, native_double_backward

NEEDS_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CONV_CASES = [dict(), dict(stride=2, padding=1), dict(padding=2, dilation=2), dict(stride=(1, 2), groups=2)]


# tiny float64 convolutions run many times slower on 2 threads than on 1 (thread start-up per call)
pytestmark = pytest.mark.usefixtures("single_thread")


def randn(*shape, seed=0, dtype=torch.float64, device="cpu"):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype).to(device)


def shifted_sum_conv2d(x, w, stride=1, padding=0, dilation=1, groups=1):
    """conv2d as a sum over kernel offsets of strided slices times weights (one matmul per offset)."""
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    n, c, h, wd = x.shape
    x = F.pad(x, [padding] * 4)
    o, cg, kh, kw = w.shape
    oh = (x.shape[2] - dilation * (kh - 1) - 1) // sy + 1
    ow = (x.shape[3] - dilation * (kw - 1) - 1) // sx + 1
    out = x.new_zeros(n, o, oh, ow)
    og = o // groups
    for g in range(groups):
        xs, ws = x[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dilation: i * dilation + sy * (oh - 1) + 1: sy,
                           j * dilation: j * dilation + sx * (ow - 1) + 1: sx]
                out[:, g * og:(g + 1) * og] += torch.einsum("nchw,oc->nohw", patch, ws[:, :, i, j])
    return out


@pytest.mark.parametrize("kw", CONV_CASES)
def test_conv2d_matches_shifted_sums_and_has_double_backward(kw):
    x = randn(1, 2, 5, 6).requires_grad_(True)
    w = randn(4, 2 // kw.get("groups", 1), 3, 3, seed=1).requires_grad_(True)
    torch.testing.assert_close(conv2d(x, w, **kw), shifted_sum_conv2d(x, w, **kw))
    assert torch.autograd.gradgradcheck(lambda x, w: conv2d(x, w, **kw), (x, w))


@pytest.mark.parametrize("kw", CONV_CASES)
def test_conv_transpose2d_is_the_adjoint_of_conv2d_and_has_double_backward(kw):
    x = randn(1, 2, 7, 8)
    w = randn(4, 2 // kw.get("groups", 1), 3, 3, seed=1).requires_grad_(True)
    y = conv2d(x, w, **kw)
    v = randn(*y.shape, seed=2).requires_grad_(True)
    natural = conv_transpose2d(v, w, **kw).shape[2:]
    kw = dict(kw, output_padding=(x.shape[2] - natural[0], x.shape[3] - natural[1]))  # back to x's size
    xt = conv_transpose2d(v, w, **kw)
    torch.testing.assert_close((y * v).sum(), (x * xt).sum())  # <A x, v> = <x, A^T v>
    assert torch.autograd.gradgradcheck(lambda v, w: conv_transpose2d(v, w, **kw), (v, w))


class ConvBackwardMasks(TorchDispatchMode):
    """Records which gradients (input, weight, bias) each convolution_backward call computes."""

    def __init__(self):
        super().__init__()
        self.masks = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.convolution_backward.default:
            self.masks.append(list(args[-1]))
        return func(*args, **(kwargs or {}))


def test_input_only_r1_gradient_computes_no_weight_gradient():
    img = randn(2, 3, 8, 8).requires_grad_(True)
    w1 = randn(4, 3, 3, 3, seed=1).requires_grad_(True)
    w2 = randn(4, 4, 3, 3, seed=2).requires_grad_(True)
    with ConvBackwardMasks() as rec:
        logits = conv2d(F.leaky_relu(conv2d(img, w1, padding=1), 0.2), w2, padding=1).sum()
        (r1_grad,) = torch.autograd.grad(logits, [img], create_graph=True)
    assert rec.masks == [[True, False, False]] * 2
    r1_grad.square().sum().backward()
    assert w1.grad.abs().sum() > 0 and w2.grad.abs().sum() > 0  # the penalty still reaches the weights


def test_grid_sample_hand_computed_values():
    x = torch.arange(6.0, dtype=torch.float64).reshape(1, 1, 2, 3)
    points = torch.tensor([[2 / 3, 0.5], [-1 / 3, -0.5], [-1.0, 0.5], [1.5, 0.0]], dtype=torch.float64)
    # a pixel centre, halfway between two centres, half a pixel past the left border, far outside
    expect = torch.tensor([5.0, 0.5, 1.5, 0.0], dtype=torch.float64)
    for fn in (grid_sample, gather_grid_sample):
        torch.testing.assert_close(fn(x, points.reshape(1, 1, 4, 2)).flatten(), expect)


def sample_case(seed=0, dtype=torch.float64, device="cpu", x_shape=(2, 3, 5, 6), points=(4, 7)):
    """x and a grid reaching outside [-1, 1], each point at least 0.1 pixel from a cell edge: there the
    gradient w.r.t. the grid jumps, and bf16 coordinate arithmetic may land on either side."""
    x = randn(*x_shape, seed=seed, dtype=dtype, device=device)
    gen = torch.Generator().manual_seed(seed + 1)
    grid = torch.rand(x_shape[0], *points, 2, generator=gen, dtype=torch.float64) * 2.4 - 1.2
    size = torch.tensor([x_shape[3], x_shape[2]], dtype=torch.float64)
    pixel = ((grid + 1) * size - 1) / 2
    frac = pixel - pixel.floor()
    pixel = torch.where((frac - 0.5).abs() > 0.4, pixel.floor() + 0.5, pixel)
    grid = (2 * pixel + 1) / size - 1
    return x, grid.to(device, dtype)  # some points outside [-1, 1]


def values_and_two_orders(fn, x, grid, orders=5, seed=3):
    """[y, dx, dgrid, d2x, d2grid][:orders] for fixed random cotangents."""
    gen = torch.Generator().manual_seed(seed)
    x, grid = x.detach().requires_grad_(True), grid.detach().requires_grad_(True)
    y = fn(x, grid)
    dy = torch.randn(y.shape, generator=gen, dtype=torch.float64).to(y)
    gx, gg = torch.autograd.grad(y, [x, grid], dy, create_graph=orders > 3)
    if orders <= 3:
        return [y, gx, gg]
    vx = torch.randn(gx.shape, generator=gen, dtype=torch.float64).to(gx)
    vg = torch.randn(gg.shape, generator=gen, dtype=torch.float64).to(gg)
    return [y, gx, gg, *torch.autograd.grad((gx * vx).sum() + (gg * vg).sum(), [x, grid])]


def test_gather_formulation_matches_pytorch_values_and_gradients():
    """Values and first-order gradients always; second order where PyTorch has it (2.13 does)."""
    x, grid = sample_case()
    native = lambda x, g: F.grid_sample(x, g, mode="bilinear", padding_mode="zeros", align_corners=False)  # noqa: E731
    orders = 5 if native_double_backward() else 3
    pairs = zip(values_and_two_orders(gather_grid_sample, x, grid, orders), values_and_two_orders(native, x, grid, orders))
    for got, want in pairs:
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fn", [grid_sample, gather_grid_sample])
def test_grid_sample_gradgradcheck_input_and_grid(fn):
    x, grid = sample_case(seed=4, x_shape=(1, 2, 4, 5), points=(3, 4))
    assert torch.autograd.gradgradcheck(fn, (x.requires_grad_(True), grid.requires_grad_(True)))


def test_torch_2_13_has_native_double_backward():
    if tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) >= (2, 13):
        assert native_double_backward()


@pytest.mark.gpu
@NEEDS_GPU
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-4), (torch.bfloat16, 5e-2)])
def test_cuda_grid_sample_two_orders_match_cpu_float64(dtype, tol):
    """CUDA values and gradients in `dtype` vs float64 on CPU (the gather formulation: it has every order
    on any torch) on the same rounded inputs. float32: 1e-4; bfloat16: 5e-2 (second-order terms multiply
    several rounded values)."""
    x, grid = sample_case(seed=5, dtype=dtype, device="cuda")
    ours = values_and_two_orders(grid_sample, x, grid)
    ref = values_and_two_orders(gather_grid_sample, x.cpu().double(), grid.cpu().double())
    for name, got, want in zip(["y", "dx", "dgrid", "d2x", "d2grid"], ours, ref):
        scale = 1.0 if name in ("y", "dx") else max(x.shape[2:])  # grid derivatives scale with the size
        torch.testing.assert_close(got.cpu().double(), want, rtol=tol, atol=tol * scale, msg=lambda m: f"{name}: {m}")


@pytest.mark.gpu
@NEEDS_GPU
@pytest.mark.parametrize("kw", CONV_CASES)
def test_cuda_conv2d_two_orders_match_cpu_float64(kw):
    """float32 on CUDA (TF32 off) vs float64 on CPU: rtol = atol = 1e-4."""
    x, w = randn(2, 4, 9, 8), randn(6, 4 // kw.get("groups", 1), 3, 3, seed=1)

    def run(x, w):
        x, w = x.requires_grad_(True), w.requires_grad_(True)
        y = conv2d(x, w, **kw)
        gx, gw = torch.autograd.grad(y.square().sum(), [x, w], create_graph=True)
        return [y, gx, gw, *torch.autograd.grad(gx.square().sum() + gw.sum(), [x, w])]

    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        ours = run(x.float().cuda(), w.float().cuda())
    for got, want in zip(ours, run(x, w)):
        torch.testing.assert_close(got.cpu().double(), want, rtol=1e-4, atol=1e-4 * want.abs().max().item())
