"""Fused tri-plane sampler: features of N points from three axis-aligned planes of D depth slices.

Inputs
- ``planes`` (B, 3, D, C, H, W): three planes, each a thin volume of D slices of C channels (the
  generator emits 3 * D * C channels; the original uses 3 x 3 x 16 = 144; D = 1 is plain EG3D).
- ``points`` (B, N, 3) world coordinates (y up); ``box_warp`` is the box width, and the normalised
  coordinate is q = 2 * p / box_warp, the box mapping to [-1, 1]^3.
- ``back_frame``: sample at the point rotated 180 degrees about the vertical axis, q -> (-x, y, -z):
  the back planes describe the character as seen from behind. (The original flipped (-x, -y, z),
  which turns the back upside down.)

Planes: 0 = XY (u = x, v = y, normal z), 1 = XZ (u = x, v = z, normal y), 2 = ZY (u = z, v = y,
normal x); three distinct orientations (EG3D's third plane repeated the first one's axes). u runs along
W and v along H.

Per plane: in-plane bilinear exactly as ``grid_sample(mode='bilinear', padding_mode='zeros',
align_corners=False)`` (texels outside the plane are zeros, so the value fades to zero over the half
texel beyond [-1, 1] and is zero further out); across slices linear along the normal, the slice
centres placed like align_corners=False texel centres over [-1, 1] and the coordinate clamped to the
outermost centres, so along the normal nothing fades to zero and D = 1 is a plain 2D sample.

``reduce``: 'none' -> (B, N, 3, C); 'sum' or 'mean' over the planes -> (B, N, C). The output has the
planes' dtype; arithmetic and gradient accumulation run in float32, or in float64 when the
planes are float64 (the reference also when the points are).

``impl``: 'cuda' is one forward and one backward kernel (gradients w.r.t. planes and points, the
latter for the density regulariser; second order through the sampler is not supported and raises).
'cpu' runs the same per-element math (triplane_sampler.h) in C++ loops on torch's thread count
(float32 and float64; first order only, as CUDA): at the paper's training sizes its forward + backward
is several times faster than PyTorch's CPU grid_sample, whose 3D backward is a scalar loop.
'ref' is plain PyTorch: one ``grid_sample`` call over the B * 3 planes, 2D for D = 1 and otherwise 3D
over the planes seen as (C, D, H, W) volumes with the normal coordinate clamped to the outer slice
centres; autograd gives its gradients of any order. Both paths give a zero gradient along the normal
at and beyond the outer slice centres (always, for D = 1).
'auto' takes the kernel of the tensors' device when its plugin builds (a C++ compiler and ninja for
'cpu'; ``NOVA3D_CPU_OPS=0`` turns it off), else 'ref'; float16 / bfloat16 CPU tensors take 'ref'.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from torch_utils import custom_ops

REDUCE_MODES = ("none", "sum", "mean")
# World axes feeding (u -> W, v -> H, normal -> D) of each plane.
PLANE_AXES = ((0, 1, 2), (0, 2, 1), (2, 1, 0))
_SOURCES = ["triplane_sampler.cu", "triplane_sampler_binding.cpp"]
_CPU_SOURCES = ["triplane_sampler_cpu.cpp"]
_HEADERS = ["triplane_sampler.h"]
_CPU_DTYPES = (torch.float32, torch.float64)


def triplane_sample(planes: torch.Tensor, points: torch.Tensor, box_warp: float, back_frame: bool = False,
                    reduce: str = "mean", impl: str = "auto") -> torch.Tensor:
    """Sample tri-plane features at world points; see the module docstring for the conventions."""
    _check(planes, points, reduce)
    if planes.device.type == "cpu" and planes.dtype not in _CPU_DTYPES:
        if impl == "cpu":
            raise TypeError(f"the CPU kernel takes float32 or float64 planes, got {planes.dtype}")
        impl = "ref"
    plugin = _plugin(impl, planes.device)
    if plugin is None:
        return triplane_sample_ref(planes, points, box_warp, back_frame, reduce)
    if planes.device.type == "cpu":
        plugin = _CpuKernels(plugin)
    return _FusedSample.apply(planes, points, float(box_warp), bool(back_frame), reduce, plugin)


def _plugin(impl: str, device: torch.device):
    """The compiled plugin `impl` takes for tensors on `device`, or None for the reference path."""
    return custom_ops.resolve_impl(impl, "triplane_sampler_plugin", _SOURCES, _HEADERS, device,
                                   cpu_sources=_CPU_SOURCES)


def cpu_kernels():
    """The compiled CPU plugin itself (numpy arrays in and out: triplane_sampler_cpu.cpp); raises
    custom_ops.OpUnavailable where it cannot build. For tests of the kernel math at every channel width."""
    return _plugin("cpu", torch.device("cpu"))


def prepare(device: torch.device | str) -> str:
    """Build (or load) the kernel 'auto' takes for tensors on `device` now, so a first call later pays no
    compile; returns the implementation that will run: 'cuda', 'cpu' or 'ref'."""
    device = torch.device(device)
    return "ref" if _plugin("auto", device) is None else device.type


def normalised_points(points: torch.Tensor, box_warp: float, back_frame: bool) -> torch.Tensor:
    """World points -> [-1, 1] box coordinates, in the back frame (-x, y, -z) when asked."""
    q = points * (2.0 / box_warp)
    if back_frame:
        q = q * q.new_tensor([-1.0, 1.0, -1.0])
    return q


def triplane_sample_ref(planes: torch.Tensor, points: torch.Tensor, box_warp: float, back_frame: bool = False,
                        reduce: str = "mean") -> torch.Tensor:
    """Reference path: the B * 3 planes go through one grid_sample call, as (C, H, W) images when
    D = 1 and as (C, D, H, W) volumes (trilinear, normal coordinate clamped) otherwise."""
    _check(planes, points, reduce)
    batch, _, depth, channels, height, width = planes.shape
    num = points.shape[1]
    out_dtype = planes.dtype
    compute = torch.float64 if torch.float64 in (planes.dtype, points.dtype) else torch.float32
    q = normalised_points(points.to(compute), box_warp, back_frame)
    uvw = q[:, :, torch.tensor(PLANE_AXES, device=q.device)].transpose(1, 2)  # (B, 3 planes, N, u v n)
    planes = planes.to(compute)
    if depth == 1:
        images = planes.reshape(batch * 3, channels, height, width)
        grid = uvw[..., :2].reshape(batch * 3, 1, num, 2)
    else:
        images = planes.transpose(2, 3).reshape(batch * 3, channels, depth, height, width)
        grid = torch.cat([uvw[..., :2], _clamped_normal(uvw[..., 2:], depth)], dim=-1).reshape(batch * 3, 1, 1, num, 3)
    sampled = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    sampled = sampled.view(batch, 3, channels, num)
    if reduce == "none":
        out = sampled.permute(0, 3, 1, 2)
    else:
        out = (sampled.sum(1) if reduce == "sum" else sampled.mean(1)).transpose(1, 2)
    return out.to(dtype=out_dtype, memory_format=torch.contiguous_format)


def _clamped_normal(normal: torch.Tensor, depth: int) -> torch.Tensor:
    """Clamp the normal coordinate to the outer slice centres, +-(1 - 1/D), so the volume sample never
    reaches zero padding. At and beyond the centres the gradient is zero (torch.clamp would pass it at
    the bound itself, where grid_sample's one-sided slope leans on the padding)."""
    bound = 1.0 - 1.0 / depth
    inside = normal.abs() < bound
    return torch.where(inside, normal, normal.detach().clamp(-bound, bound))


def _check(planes: torch.Tensor, points: torch.Tensor, reduce: str) -> None:
    if planes.dim() != 6 or planes.shape[1] != 3:
        raise ValueError(f"planes must be (B, 3, D, C, H, W), got {tuple(planes.shape)}")
    if points.dim() != 3 or points.shape[2] != 3 or points.shape[0] != planes.shape[0]:
        raise ValueError(f"points must be (B, N, 3) with B = {planes.shape[0]}, got {tuple(points.shape)}")
    if reduce not in REDUCE_MODES:
        raise ValueError(f"reduce must be one of {REDUCE_MODES}, got {reduce!r}")
    if not planes.is_floating_point() or not points.is_floating_point():
        raise TypeError("planes and points must be floating point")


def _acc_dtype(planes: torch.Tensor) -> torch.dtype:
    return torch.float64 if planes.dtype == torch.float64 else torch.float32


class _CpuKernels:
    """The CPU plugin (numpy buffers in and out, triplane_sampler_cpu.cpp) behind the CUDA plugin's calls:
    zero-copy views both ways, and torch's intra-op thread count."""

    def __init__(self, module):
        self.module = module

    def forward(self, planes_cl: torch.Tensor, points: torch.Tensor, scale: float, back_frame: bool,
                code: int) -> torch.Tensor:
        run = self.module.forward_f64 if planes_cl.dtype == torch.float64 else self.module.forward_f32
        return torch.from_numpy(run(planes_cl.detach().numpy(), points.detach().numpy(), scale, back_frame, code,
                                    torch.get_num_threads()))

    def backward(self, planes_cl: torch.Tensor, points: torch.Tensor, grad_out: torch.Tensor, scale: float,
                 back_frame: bool, code: int, want_planes: bool, want_points: bool):
        run = self.module.backward_f64 if planes_cl.dtype == torch.float64 else self.module.backward_f32
        grads = run(planes_cl.detach().numpy(), points.detach().numpy(), grad_out.detach().numpy(), scale,
                    back_frame, code, want_planes, want_points, torch.get_num_threads())
        return tuple(None if g is None else torch.from_numpy(g) for g in grads)


class _FusedSample(torch.autograd.Function):
    """The fused kernels (CUDA, or the CPU plugin through _CpuKernels). Planes go channels-last,
    (B, 3, H, W, D, C), so that a texel's D x C values are contiguous: a thread takes 4 channels of a point
    (1 when C % 4 != 0) in one vector access, and neighbouring threads read and write neighbouring channels."""

    @staticmethod
    def forward(ctx, planes, points, box_warp, back_frame, reduce, plugin):
        planes_cl = planes.permute(0, 1, 4, 5, 2, 3).contiguous()
        points_acc = points.to(_acc_dtype(planes)).contiguous()
        scale = 2.0 / box_warp
        code = REDUCE_MODES.index(reduce)
        ctx.save_for_backward(planes_cl, points_acc)
        ctx.args = (scale, back_frame, code, plugin, planes.dtype, points.dtype)
        return plugin.forward(planes_cl, points_acc, scale, back_frame, code)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        planes_cl, points_acc = ctx.saved_tensors
        scale, back_frame, code, plugin, planes_dtype, points_dtype = ctx.args
        want_planes, want_points = ctx.needs_input_grad[:2]
        grad_planes_cl, grad_points = plugin.backward(planes_cl, points_acc, grad_out.to(planes_dtype).contiguous(),
                                                      scale, back_frame, code, want_planes, want_points)
        grad_planes = None
        if want_planes:
            # in the planes' own channels-last layout (the generator's, training/model/triplane.py): no copy
            grad_planes = grad_planes_cl.permute(0, 1, 4, 5, 2, 3).to(dtype=planes_dtype)
        grad_points = grad_points.to(points_dtype) if want_points else None
        return grad_planes, grad_points, None, None, None, None
