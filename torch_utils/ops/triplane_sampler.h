// Per-element math of the fused tri-plane sampler, shared by the CUDA kernels (triplane_sampler.cu) and
// the CPU kernels (triplane_sampler_cpu.cpp), whose tests check it at every channel width on CPU. Plain
// C++ without torch; only under nvcc does it include CUDA's half-precision headers and mark functions
// __host__ __device__.
//
// Layout: planes are channels-last, (B, 3, H, W, D, C); points (B, N, 3); the output (B, N, 3, C)
// for Reduce::kNone, else (B, N, C). One element (one GPU thread) is a point and VEC consecutive
// channels: neighbouring threads read and write neighbouring channels of the same texels, and the
// per-point index math is shared by VEC channels.
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define TPS_HD __host__ __device__ __forceinline__
#else
#define TPS_HD inline
#endif

namespace tps {

enum Reduce : int { kNone = 0, kSum = 1, kMean = 2 };
enum DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2, kFloat64 = 3 };

// Everything a launch needs. planes / out / grad_out hold `dtype`; points and both gradient buffers
// hold the accumulation type (float64 for float64 planes, float32 otherwise). A null gradient
// buffer means that gradient is not wanted.
struct Problem {
  const void* planes;
  const void* points;
  void* out;
  const void* grad_out;
  void* grad_planes;  // zero-initialised, channels-last like planes
  void* grad_points;  // zero-initialised, (B, N, 3)
  int64_t batch;
  int64_t num_points;
  int depth;
  int channels;
  int height;
  int width;
  double scale;  // 2 / box_warp: world -> [-1, 1]
  int back_frame;
  int reduce;
  int dtype;
};

// CUDA launchers (triplane_sampler.cu). Return nullptr on success, else the CUDA error text.
const char* launch_forward(const Problem& pb, void* stream);
const char* launch_backward(const Problem& pb, void* stream);

// World axis that feeds plane p's u (-> W), v (-> H) and normal (-> D) coordinate.
// Plane 0 = XY (normal z), plane 1 = XZ (normal y), plane 2 = ZY (normal x).
TPS_HD int u_axis(int p) { return p == 2 ? 2 : 0; }
TPS_HD int v_axis(int p) { return p == 1 ? 2 : 1; }
TPS_HD int n_axis(int p) { return 2 - p; }

// The back frame is the world rotated 180 degrees about the vertical (y) axis: (x, y, z) -> (-x, y, -z).
template <typename T>
TPS_HD T frame_sign(int axis, bool back_frame) {
  return (back_frame && axis != 1) ? T(-1) : T(1);
}

// Explicit conversions between the stored and the accumulation type: torch builds extensions with
// __CUDA_NO_HALF_CONVERSIONS__ / __CUDA_NO_BFLOAT16_CONVERSIONS__, so half types never convert implicitly.
template <typename acc_t, typename scalar_t>
TPS_HD acc_t to_acc(scalar_t v) { return static_cast<acc_t>(v); }
template <typename scalar_t, typename acc_t>
TPS_HD scalar_t from_acc(acc_t v) { return static_cast<scalar_t>(v); }
#if defined(__CUDACC__)
template <>
TPS_HD float to_acc<float, __half>(__half v) { return __half2float(v); }
template <>
TPS_HD float to_acc<float, __nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <>
TPS_HD __half from_acc<__half, float>(float v) { return __float2half_rn(v); }
template <>
TPS_HD __nv_bfloat16 from_acc<__nv_bfloat16, float>(float v) { return __float2bfloat16_rn(v); }
#endif

TPS_HD float floor_of(float x) { return floorf(x); }
TPS_HD double floor_of(double x) { return floor(x); }

// One axis of a linear interpolation: value = (1 - t) * f[i0] + t * f[i1]; slope = d(index)/d(coord).
template <typename T>
struct Lerp {
  int i0;
  int i1;
  T t;
  T slope;
};

// In-plane axis, grid_sample's align_corners=False convention: index = ((c + 1) * size - 1) / 2.
// Corners outside [0, size) are zero padding; the caller skips them. The index is clamped to
// [-2, size + 1] first so that the int conversion stays defined far outside (both corners remain
// outside, so the value and its derivative are still zero); NaN goes to -2 (zero).
template <typename T>
TPS_HD Lerp<T> texel_lerp(T coord, int size) {
  T idx = ((coord + T(1)) * T(size) - T(1)) / T(2);
  if (!(idx >= T(-2))) idx = T(-2);
  if (idx > T(size + 1)) idx = T(size + 1);
  const T f = floor_of(idx);
  const int i0 = int(f);
  return {i0, i0 + 1, idx - f, T(size) / T(2)};
}

// Across depth slices: slice centres sit like align_corners=False texel centres over [-1, 1] and
// the index is clamped to the outermost centres, so nothing fades to zero along the normal and
// D = 1 reads slice 0 with weight 1. The slope is zero where the clamp is active, including exactly
// at the outer centres (so D = 1 never has one), as in the reference.
template <typename T>
TPS_HD Lerp<T> depth_lerp(T coord, int depth) {
  T idx = ((coord + T(1)) * T(depth) - T(1)) / T(2);
  const T hi = T(depth - 1);
  const bool inside = idx > T(0) && idx < hi;
  if (!inside) idx = idx >= hi ? hi : T(0);
  int i0 = int(floor_of(idx));
  if (i0 > depth - 2) i0 = depth - 2;
  if (i0 < 0) i0 = 0;
  const int i1 = i0 + 1 < depth ? i0 + 1 : i0;
  return {i0, i1, idx - T(i0), inside ? T(depth) / T(2) : T(0)};
}

TPS_HD bool in_range(int i, int size) { return i >= 0 && i < size; }

// Offset of (y, x, slice d, channel 0) inside one channels-last plane.
TPS_HD int64_t texel_offset(int y, int x, int d, int width, int depth, int channels) {
  return ((int64_t(y) * width + x) * depth + d) * channels;
}

// Normalised sampling coordinate of one point and the factor d(coord)/d(world) of each axis.
template <typename T>
TPS_HD void point_coords(const T* point, const Problem& pb, T coord[3], T dcoord[3]) {
  for (int k = 0; k < 3; ++k) {
    dcoord[k] = T(pb.scale) * frame_sign<T>(k, pb.back_frame != 0);
    coord[k] = point[k] * dcoord[k];
  }
}

// The three interpolation axes of plane p for a point: x (W), y (H), d (depth).
template <typename T>
struct PlaneLerps {
  Lerp<T> x;
  Lerp<T> y;
  Lerp<T> d;
};

template <typename T>
TPS_HD PlaneLerps<T> plane_lerps(const T coord[3], int p, const Problem& pb) {
  return {texel_lerp(coord[u_axis(p)], pb.width), texel_lerp(coord[v_axis(p)], pb.height),
          depth_lerp(coord[n_axis(p)], pb.depth)};
}

template <typename T>
TPS_HD T corner_weight(const Lerp<T>& l, int j) { return j ? l.t : T(1) - l.t; }

// VEC consecutive channels in and out of memory. The CUDA build specialises the common cases into
// single vector loads and stores (triplane_sampler.cu); this loop is the meaning of all of them.
template <typename scalar_t, typename acc_t, int VEC>
struct VecIO {
  static TPS_HD void load(const scalar_t* src, acc_t dst[VEC]) {
    for (int k = 0; k < VEC; ++k) dst[k] = to_acc<acc_t>(src[k]);
  }
  static TPS_HD void store(scalar_t* dst, const acc_t src[VEC]) {
    for (int k = 0; k < VEC; ++k) dst[k] = from_acc<scalar_t>(src[k]);
  }
};

// Scatter-add g[k] * w into dst[k]: atomics on the GPU (one vector atomic where the chip has it).
template <typename acc_t, int VEC>
struct VecAccumulate {
  static TPS_HD void add(acc_t* dst, const acc_t g[VEC], acc_t w) {
    for (int k = 0; k < VEC; ++k) {
#if defined(__CUDA_ARCH__)
      atomicAdd(dst + k, g[k] * w);
#else
      dst[k] += g[k] * w;
#endif
    }
  }
};

// One element: batch b, point n, channels c0 .. c0 + VEC - 1 (c0 a multiple of VEC, C divisible by VEC).
struct Element {
  int64_t b;
  int64_t n;
  int c0;
};

// Channels c0.. of one plane (pointer to the plane's channel c0 at texel 0) at the point.
template <typename scalar_t, typename acc_t, int VEC>
TPS_HD void sample_plane(const scalar_t* plane, const PlaneLerps<acc_t>& l, const Problem& pb, acc_t value[VEC]) {
  for (int k = 0; k < VEC; ++k) value[k] = acc_t(0);
  for (int j = 0; j < 2; ++j) {
    const int y = j ? l.y.i1 : l.y.i0;
    if (!in_range(y, pb.height)) continue;
    for (int i = 0; i < 2; ++i) {
      const int x = i ? l.x.i1 : l.x.i0;
      if (!in_range(x, pb.width)) continue;
      const scalar_t* texel = plane + texel_offset(y, x, 0, pb.width, pb.depth, pb.channels);
      acc_t v0[VEC], v1[VEC];
      VecIO<scalar_t, acc_t, VEC>::load(texel + int64_t(l.d.i0) * pb.channels, v0);
      VecIO<scalar_t, acc_t, VEC>::load(texel + int64_t(l.d.i1) * pb.channels, v1);
      const acc_t w = corner_weight(l.y, j) * corner_weight(l.x, i);
      for (int k = 0; k < VEC; ++k) value[k] += w * (v0[k] + l.d.t * (v1[k] - v0[k]));
    }
  }
}

// Forward of one element: writes out[b, n, :, c0..] (kNone) or out[b, n, c0..].
template <typename scalar_t, typename acc_t, int VEC>
TPS_HD void forward_element(const Element& e, const Problem& pb) {
  const int C = pb.channels;
  const int64_t bn = e.b * pb.num_points + e.n;
  const int64_t plane_size = int64_t(pb.height) * pb.width * pb.depth * C;
  const scalar_t* planes = static_cast<const scalar_t*>(pb.planes) + e.b * 3 * plane_size + e.c0;
  scalar_t* out = static_cast<scalar_t*>(pb.out);
  acc_t coord[3], dcoord[3], total[VEC], value[VEC];
  point_coords(static_cast<const acc_t*>(pb.points) + bn * 3, pb, coord, dcoord);
  for (int k = 0; k < VEC; ++k) total[k] = acc_t(0);
  for (int p = 0; p < 3; ++p) {
    sample_plane<scalar_t, acc_t, VEC>(planes + p * plane_size, plane_lerps(coord, p, pb), pb, value);
    if (pb.reduce == kNone) {
      VecIO<scalar_t, acc_t, VEC>::store(out + (bn * 3 + p) * C + e.c0, value);
    } else {
      for (int k = 0; k < VEC; ++k) total[k] += value[k];
    }
  }
  if (pb.reduce == kNone) return;
  if (pb.reduce == kMean) {
    for (int k = 0; k < VEC; ++k) total[k] /= acc_t(3);
  }
  VecIO<scalar_t, acc_t, VEC>::store(out + bn * C + e.c0, total);
}

// Backward of one element on plane p: adds its share into grad_planes (when wanted) and, when the point
// gradient is wanted, its share of d(loss)/d(coord) into grad_coord (normalised coordinates).
template <typename scalar_t, typename acc_t, int VEC>
TPS_HD void backward_plane(const Element& e, const Problem& pb, int p, const acc_t coord[3], acc_t grad_coord[3]) {
  const int C = pb.channels;
  const int64_t bn = e.b * pb.num_points + e.n;
  const int64_t plane_size = int64_t(pb.height) * pb.width * pb.depth * C;
  const scalar_t* grad_out = static_cast<const scalar_t*>(pb.grad_out);
  acc_t* grad_planes = static_cast<acc_t*>(pb.grad_planes);
  const bool want_points = pb.grad_points != nullptr;
  acc_t g[VEC];
  VecIO<scalar_t, acc_t, VEC>::load(grad_out + (pb.reduce == kNone ? (bn * 3 + p) * C : bn * C) + e.c0, g);
  bool any = false;
  for (int k = 0; k < VEC; ++k) {
    if (pb.reduce == kMean) g[k] /= acc_t(3);
    any = any || g[k] != acc_t(0);
  }
  if (!any) return;
  const PlaneLerps<acc_t> l = plane_lerps(coord, p, pb);
  const int64_t base = (e.b * 3 + p) * plane_size + e.c0;
  const scalar_t* plane = static_cast<const scalar_t*>(pb.planes) + base;
  acc_t dx = acc_t(0), dy = acc_t(0), dd = acc_t(0);
  for (int j = 0; j < 2; ++j) {
    const int y = j ? l.y.i1 : l.y.i0;
    if (!in_range(y, pb.height)) continue;
    const acc_t wy = corner_weight(l.y, j), sy = j ? acc_t(1) : acc_t(-1);
    for (int i = 0; i < 2; ++i) {
      const int x = i ? l.x.i1 : l.x.i0;
      if (!in_range(x, pb.width)) continue;
      const acc_t wx = corner_weight(l.x, i), sx = i ? acc_t(1) : acc_t(-1);
      const int64_t o0 = texel_offset(y, x, l.d.i0, pb.width, pb.depth, C);
      const int64_t o1 = texel_offset(y, x, l.d.i1, pb.width, pb.depth, C);
      if (grad_planes != nullptr) {
        VecAccumulate<acc_t, VEC>::add(grad_planes + base + o0, g, wy * wx * (acc_t(1) - l.d.t));
        if (o1 != o0) VecAccumulate<acc_t, VEC>::add(grad_planes + base + o1, g, wy * wx * l.d.t);
      }
      if (want_points) {
        acc_t v0[VEC], v1[VEC];
        VecIO<scalar_t, acc_t, VEC>::load(plane + o0, v0);
        VecIO<scalar_t, acc_t, VEC>::load(plane + o1, v1);
        for (int k = 0; k < VEC; ++k) {
          const acc_t v = v0[k] + l.d.t * (v1[k] - v0[k]);
          dx += g[k] * wy * sx * v;
          dy += g[k] * sy * wx * v;
          dd += g[k] * wy * wx * (v1[k] - v0[k]);
        }
      }
    }
  }
  grad_coord[u_axis(p)] += dx * l.x.slope;
  grad_coord[v_axis(p)] += dy * l.y.slope;
  grad_coord[n_axis(p)] += dd * l.d.slope;
}

// Backward of one element over the three planes: adds its share into grad_planes (when wanted) and returns
// its share of d(loss)/d(point) in grad_point (world coordinates); the caller sums the shares of a point's
// channels.
template <typename scalar_t, typename acc_t, int VEC>
TPS_HD void backward_element(const Element& e, const Problem& pb, acc_t grad_point[3]) {
  acc_t coord[3], dcoord[3], grad_coord[3] = {acc_t(0), acc_t(0), acc_t(0)};
  point_coords(static_cast<const acc_t*>(pb.points) + (e.b * pb.num_points + e.n) * 3, pb, coord, dcoord);
  for (int p = 0; p < 3; ++p) backward_plane<scalar_t, acc_t, VEC>(e, pb, p, coord, grad_coord);
  for (int k = 0; k < 3; ++k) grad_point[k] = grad_coord[k] * dcoord[k];
}

}  // namespace tps
