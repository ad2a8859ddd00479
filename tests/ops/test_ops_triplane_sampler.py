"""Fused tri-plane sampler: the reference against an explicit per-point formula written here, gradcheck,
the kernels' per-element math at each channel width (through the CPU kernel) against the reference, and
the CPU and CUDA kernels against the reference."""
import os

import pytest
import torch
import torch.nn.functional as F

from torch_utils import custom_ops
from torch_utils.ops.triplane_sampler import REDUCE_MODES, cpu_kernels, prepare, triplane_sample, triplane_sample_ref

BOX = 2.2
# Written out again here on purpose (not imported): plane -> world axes of (u -> W, v -> H, normal).
AXES = {0: (0, 1, 2), 1: (0, 2, 1), 2: (2, 1, 0)}
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def explicit_sample(planes: torch.Tensor, point: torch.Tensor, back_frame: bool) -> torch.Tensor:
    """One point, (3, D, C, H, W) planes -> (3, C), with tent weights over every texel and slice."""
    _, depth, channels, height, width = planes.shape
    q = [2.0 * float(c) / BOX for c in point]
    if back_frame:
        q = [-q[0], q[1], -q[2]]
    out = torch.zeros(3, channels, dtype=torch.float64)
    for p, (ua, va, na) in AXES.items():
        x = ((q[ua] + 1) * width - 1) / 2
        y = ((q[va] + 1) * height - 1) / 2
        d = min(max(((q[na] + 1) * depth - 1) / 2, 0.0), depth - 1.0)
        for yi in range(height):
            wy = max(0.0, 1 - abs(y - yi))
            for xi in range(width):
                wx = max(0.0, 1 - abs(x - xi))
                for di in range(depth):
                    w = wy * wx * max(0.0, 1 - abs(d - di))
                    if w > 0:
                        out[p] += w * planes[p, di, :, yi, xi].double()
    return out


def make_planes(batch=2, depth=3, channels=4, height=5, width=6, dtype=torch.float64, device="cpu"):
    return torch.randn(batch, 3, depth, channels, height, width, dtype=dtype, device=device)


def edge_points() -> torch.Tensor:
    """World points inside, on the box faces and corners, on the slice-centre clamp, and outside."""
    h = BOX / 2
    return torch.tensor([
        [0.0, 0.0, 0.0], [0.3, -0.2, 0.5], [-0.9, 0.7, -0.4],
        [h, 0.1, 0.2], [-h, 0.3, -0.6], [0.2, h, -h], [h, h, h], [-h, -h, -h],
        [h * 1.02, 0.1, 0.1], [0.1, -h * 1.05, 0.3], [0.2, 0.3, h / 3], [0.4, -0.5, -h * 2 / 3],
        [h * 1.5, 0.0, 0.1], [0.1, 0.2, h * 3], [3 * h, -3 * h, 3 * h], [0.5, 0.0, -h * 1.3],
    ], dtype=torch.float64)


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("back_frame", [False, True])
def test_ref_matches_explicit_formula(depth, back_frame):
    torch.manual_seed(depth)
    planes = make_planes(batch=1, depth=depth)
    points = torch.cat([edge_points(), (torch.rand(8, 3, dtype=torch.float64) - 0.5) * BOX * 1.3])[None]
    got = triplane_sample_ref(planes, points, BOX, back_frame, reduce="none")
    want = torch.stack([explicit_sample(planes[0], pt, back_frame) for pt in points[0]])
    torch.testing.assert_close(got[0], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("depth", [1, 3])
def test_reduce_modes_sum_and_mean_the_planes(depth):
    torch.manual_seed(0)
    planes, points = make_planes(depth=depth), (torch.rand(2, 40, 3, dtype=torch.float64) - 0.5) * BOX
    per_plane = triplane_sample(planes, points, BOX, reduce="none")
    assert per_plane.shape == (2, 40, 3, 4)
    torch.testing.assert_close(triplane_sample(planes, points, BOX, reduce="sum"), per_plane.sum(2))
    torch.testing.assert_close(triplane_sample(planes, points, BOX, reduce="mean"), per_plane.mean(2))


def test_back_frame_is_the_rotation_about_the_vertical_axis():
    torch.manual_seed(1)
    planes, points = make_planes(), (torch.rand(2, 40, 3, dtype=torch.float64) - 0.5) * BOX
    back = triplane_sample(planes, points, BOX, back_frame=True, reduce="none")
    rotated = points * torch.tensor([-1.0, 1.0, -1.0], dtype=torch.float64)
    torch.testing.assert_close(back, triplane_sample(planes, rotated, BOX, reduce="none"))
    upside_down = points * torch.tensor([-1.0, -1.0, 1.0], dtype=torch.float64)  # the original's flip
    assert not torch.allclose(back, triplane_sample(planes, upside_down, BOX, reduce="none"))


def test_single_slice_is_plain_2d_grid_sample_per_plane():
    torch.manual_seed(2)
    planes, points = make_planes(depth=1), (torch.rand(2, 40, 3, dtype=torch.float64) - 0.5) * BOX * 1.2
    got = triplane_sample(planes, points, BOX, reduce="none")
    q = 2 * points / BOX
    for p, (ua, va, _) in AXES.items():
        grid = torch.stack([q[..., ua], q[..., va]], dim=-1)[:, None]
        want = F.grid_sample(planes[:, p, 0], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        torch.testing.assert_close(got[:, :, p], want[:, :, 0].transpose(1, 2), rtol=1e-13, atol=1e-13)


def test_outside_in_plane_is_zero_and_along_the_normal_is_clamped():
    planes = make_planes(batch=1, depth=3)
    h = BOX / 2

    def sample(x: float, y: float, z: float) -> torch.Tensor:
        point = torch.tensor([[[x, y, z]]], dtype=torch.float64)
        return triplane_sample(planes, point, BOX, reduce="none")[0, 0]

    far_x = sample(5 * h, 0.1, -0.2)
    assert far_x[:2].abs().max() == 0  # x is in-plane for XY and XZ
    # For ZY x is the normal: beyond the outermost slice centre (2/3 of the half box for D = 3) it is clamped.
    assert far_x[2].abs().max() > 0
    torch.testing.assert_close(far_x[2], sample(h * 2 / 3, 0.1, -0.2)[2])
    assert sample(3 * h, -3 * h, 3 * h).abs().max() == 0


@pytest.mark.parametrize("depth,back_frame,reduce", [(3, True, "none"), (1, False, "mean"), (2, True, "sum")])
def test_ref_gradcheck(depth, back_frame, reduce):
    torch.manual_seed(3)
    planes = make_planes(batch=1, depth=depth, channels=2, height=4, width=3).requires_grad_()
    points = ((torch.rand(1, 6, 3, dtype=torch.float64) - 0.5) * BOX * 1.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda pl, pt: triplane_sample_ref(pl, pt, BOX, back_frame, reduce),
                                    (planes, points))


def channels_last(planes: torch.Tensor) -> torch.Tensor:
    return planes.permute(0, 1, 4, 5, 2, 3).contiguous()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("depth,channels,vec", [(1, 4, 4), (3, 4, 4), (3, 4, 1), (3, 16, 16), (2, 16, 4)])
def test_kernel_math_at_each_channel_width_matches_ref(dtype, depth, channels, vec):
    """The per-element math the CUDA kernels run (4 or 1 channels per thread) and the CPU kernel's widest
    width (16), through the CPU plugin with its width forced, on the edge points (box faces, slice-centre
    clamp, outside) and random ones: values and both gradients."""
    _need_cpu_kernel()
    kernels = cpu_kernels()
    suffix = "f64" if dtype == torch.float64 else "f32"
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    torch.manual_seed(4)
    for back_frame in (False, True):
        for code, reduce in enumerate(REDUCE_MODES):
            planes = make_planes(depth=depth, channels=channels, dtype=dtype, width=7).requires_grad_()
            points = torch.cat([edge_points()[None].expand(2, -1, -1),
                                (torch.rand(2, 30, 3, dtype=torch.float64) - 0.5) * BOX * 1.3], dim=1)
            points = points.to(dtype).requires_grad_()
            ref = triplane_sample_ref(planes, points, BOX, back_frame, reduce)
            args = (channels_last(planes.detach()).numpy(), points.detach().numpy(), 2.0 / BOX, back_frame, code)
            out = getattr(kernels, f"forward_{suffix}")(*args, vec=vec)
            torch.testing.assert_close(torch.from_numpy(out), ref.detach(), **tol)
            grad_out = torch.randn_like(ref)
            want_planes, want_points = torch.autograd.grad(ref, [planes, points], grad_out)
            got_planes, got_points = getattr(kernels, f"backward_{suffix}")(
                args[0], args[1], grad_out.numpy(), *args[2:], True, True, vec=vec)
            torch.testing.assert_close(torch.from_numpy(got_planes).permute(0, 1, 4, 5, 2, 3), want_planes, **tol)
            torch.testing.assert_close(torch.from_numpy(got_points), want_points, **tol)
    with pytest.raises(ValueError, match="vec must be"):
        getattr(kernels, f"forward_{suffix}")(*args, vec=3)


def test_bad_inputs_are_named():
    planes, points = make_planes(), torch.zeros(2, 4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="planes must be"):
        triplane_sample(planes[:, :2], points, BOX)
    with pytest.raises(ValueError, match="points must be"):
        triplane_sample(planes, points[..., :2], BOX)
    with pytest.raises(ValueError, match="reduce must be"):
        triplane_sample(planes, points, BOX, reduce="max")


def test_forcing_cuda_on_cpu_tensors_raises():
    with pytest.raises(custom_ops.CudaOpUnavailable):
        triplane_sample(make_planes(), torch.zeros(2, 4, 3, dtype=torch.float64), BOX, impl="cuda")


def _need_cpu_kernel():
    """Skip without a C++ compiler or ninja, except under CI (its image has both: a missing one fails)."""
    missing = custom_ops.missing_cpu_piece()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI=true but the CPU kernel cannot build: {missing}")
        pytest.skip(f"the CPU kernel cannot build here: {missing}")


# The CPU kernel takes 16 channels per inner loop when C % 16 == 0, else 4 when C % 4 == 0, else 1.
@pytest.mark.parametrize("depth,channels", [(3, 16), (1, 16), (3, 12), (3, 5)])
@pytest.mark.parametrize("reduce", REDUCE_MODES)
@pytest.mark.parametrize("back_frame", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_kernel_matches_ref(dtype, depth, channels, reduce, back_frame):
    _need_cpu_kernel()
    _kernel_vs_ref("cpu", dtype, depth, channels, reduce, back_frame, tol=1e-4 if dtype == torch.float32 else 1e-10)


def test_cpu_kernel_is_deterministic_and_thread_count_free():
    """Forward splits points over threads and backward runs one task per (item, plane): the same bits
    with 1 thread and with 3."""
    _need_cpu_kernel()
    torch.manual_seed(7)
    planes, points = make_planes(batch=2, depth=3, channels=16, height=9, width=11), torch.randn(2, 5000, 3)
    runs = []
    threads = torch.get_num_threads()
    try:
        for n in (1, 3, 3):
            torch.set_num_threads(n)
            pl, pt = planes.clone().requires_grad_(), points.clone().double().requires_grad_()
            out = triplane_sample(pl, pt, BOX, True, "none", impl="cpu")
            out.backward(out.detach().cos())
            runs.append((out, pl.grad, pt.grad))
    finally:
        torch.set_num_threads(threads)
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert torch.equal(a, b)


def test_cpu_kernel_gradcheck_float64_and_no_double_backward():
    _need_cpu_kernel()
    torch.manual_seed(6)
    planes = make_planes(batch=1, depth=3, channels=3, height=4, width=5).requires_grad_()
    points = ((torch.rand(1, 7, 3, dtype=torch.float64) - 0.5) * BOX * 1.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda pl, pt: triplane_sample(pl, pt, BOX, True, "none", impl="cpu"),
                                    (planes, points))
    out = triplane_sample(planes, points, BOX, impl="cpu")
    (grad_points,) = torch.autograd.grad(out.sum(), points, create_graph=True)
    with pytest.raises(RuntimeError):
        grad_points.sum().backward()


def test_auto_takes_the_cpu_kernel_unless_turned_off(monkeypatch):
    """'auto' on CPU tensors runs the compiled kernel (its output carries the fused op's backward node);
    NOVA3D_CPU_OPS=0 keeps the reference path, and half-precision CPU planes always take it."""
    _need_cpu_kernel()
    planes = make_planes(batch=1, channels=16).float().requires_grad_()
    points = torch.zeros(1, 4, 3)
    assert "_FusedSample" in type(triplane_sample(planes, points, BOX).grad_fn).__name__
    assert prepare("cpu") == "cpu"
    monkeypatch.setenv("NOVA3D_CPU_OPS", "0")
    assert "_FusedSample" not in type(triplane_sample(planes, points, BOX).grad_fn).__name__
    assert prepare("cpu") == "ref"
    assert triplane_sample(planes.detach().bfloat16(), points, BOX).dtype == torch.bfloat16
    with pytest.raises(TypeError, match="float32 or float64"):
        triplane_sample(planes.detach().half(), points, BOX, impl="cpu")


def _kernel_vs_ref(impl, dtype, depth, channels, reduce, back_frame, tol):
    device = "cuda" if impl == "cuda" else "cpu"
    torch.manual_seed(5)
    planes = make_planes(batch=2, depth=depth, channels=channels, height=33, width=17, dtype=dtype, device=device)
    points = ((torch.rand(2, 3000, 3, device=device) - 0.5) * BOX * 1.2).to(torch.float64 if dtype == torch.float64
                                                                              else torch.float32)
    results = []
    for impl in (impl, "ref"):
        pl, pt = planes.clone().requires_grad_(), points.clone().requires_grad_()
        out = triplane_sample(pl, pt, BOX, back_frame, reduce, impl=impl)
        out.backward(torch.ones_like(out) + out.detach().float().sin().to(dtype))
        results.append((out.float(), pl.grad.float(), pt.grad.float()))
    for got, want, what in zip(results[0], results[1], ("values", "planes grad", "points grad")):
        scale = want.abs().max().item()
        torch.testing.assert_close(got, want, rtol=tol, atol=tol * scale, msg=lambda m: f"{what}: {m}")


@pytest.mark.gpu
@needs_cuda
# The kernels take 4 channels per thread when C % 4 == 0, else 1, and sum a point's gradient over its
# threads with shuffles when there are 2^k <= 32 of them, else with atomics. C = 16: 4 threads of 4,
# shuffles; C = 12: 3 threads of 4, atomics; C = 5: 5 threads of 1, atomics; C = 2: 2 of 1, shuffles.
@pytest.mark.parametrize("depth,channels", [(3, 16), (1, 16), (3, 12), (3, 5), (2, 2)])
@pytest.mark.parametrize("reduce", REDUCE_MODES)
@pytest.mark.parametrize("back_frame", [False, True])
def test_cuda_matches_ref_float32(depth, channels, reduce, back_frame):
    _kernel_vs_ref("cuda", torch.float32, depth, channels, reduce, back_frame, tol=1e-4)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("depth", [1, 3])
def test_cuda_matches_ref_half_precision(dtype, depth):
    # Both paths read the same rounded planes and accumulate in float32; outputs and plane gradients are
    # rounded to the planes' dtype (bf16 keeps 8 bits: 2**-8 relative), hence 2e-2 for bf16.
    _kernel_vs_ref("cuda", dtype, depth, 16, "mean", True, tol=2e-2 if dtype == torch.bfloat16 else 4e-3)


@pytest.mark.gpu
@needs_cuda
def test_cuda_gradcheck_float64_and_no_double_backward():
    torch.manual_seed(6)
    planes = make_planes(batch=1, depth=3, channels=3, height=4, width=5, device="cuda").requires_grad_()
    points = ((torch.rand(1, 7, 3, dtype=torch.float64, device="cuda") - 0.5) * BOX * 1.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda pl, pt: triplane_sample(pl, pt, BOX, True, "none", impl="cuda"),
                                    (planes, points))
    out = triplane_sample(planes, points, BOX, impl="cuda")
    (grad_points,) = torch.autograd.grad(out.sum(), points, create_graph=True)
    with pytest.raises(RuntimeError):
        grad_points.sum().backward()
