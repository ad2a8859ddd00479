// CUDA kernels of the fused tri-plane sampler. Plain CUDA headers only (no torch), so `nvcc -c`
// compiles this file without a CUDA build of torch; triplane_sampler_binding.cpp calls the
// launchers. The per-element math is in triplane_sampler.h, shared with the CPU test loop; this file
// adds the launch, the reduction of the point gradient over channels, and vector loads and atomics.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "triplane_sampler.h"

namespace tps {

// Four channels in one 16-byte (float) or 8-byte (half, bfloat16) access. Channel groups start at
// multiples of 4 elements of 4-divisible rows, so these accesses are aligned.
template <>
struct VecIO<float, float, 4> {
  static TPS_HD void load(const float* src, float dst[4]) {
    const float4 v = *reinterpret_cast<const float4*>(src);
    dst[0] = v.x, dst[1] = v.y, dst[2] = v.z, dst[3] = v.w;
  }
  static TPS_HD void store(float* dst, const float src[4]) {
    *reinterpret_cast<float4*>(dst) = make_float4(src[0], src[1], src[2], src[3]);
  }
};

template <typename half_t, typename pair_t, float2 (*to_float2)(pair_t), pair_t (*from_floats)(float, float)>
struct PairedVecIO {
  static TPS_HD void load(const half_t* src, float dst[4]) {
    const uint2 raw = *reinterpret_cast<const uint2*>(src);
    const float2 a = to_float2(*reinterpret_cast<const pair_t*>(&raw.x));
    const float2 b = to_float2(*reinterpret_cast<const pair_t*>(&raw.y));
    dst[0] = a.x, dst[1] = a.y, dst[2] = b.x, dst[3] = b.y;
  }
  static TPS_HD void store(half_t* dst, const float src[4]) {
    const pair_t a = from_floats(src[0], src[1]), b = from_floats(src[2], src[3]);
    uint2 raw;
    raw.x = *reinterpret_cast<const unsigned int*>(&a);
    raw.y = *reinterpret_cast<const unsigned int*>(&b);
    *reinterpret_cast<uint2*>(dst) = raw;
  }
};

__host__ __device__ inline float2 half2_to_float2(__half2 v) { return __half22float2(v); }
__host__ __device__ inline __half2 floats_to_half2(float a, float b) { return __floats2half2_rn(a, b); }
__host__ __device__ inline float2 bf162_to_float2(__nv_bfloat162 v) { return __bfloat1622float2(v); }
__host__ __device__ inline __nv_bfloat162 floats_to_bf162(float a, float b) { return __floats2bfloat162_rn(a, b); }

template <>
struct VecIO<__half, float, 4> : PairedVecIO<__half, __half2, half2_to_float2, floats_to_half2> {};
template <>
struct VecIO<__nv_bfloat16, float, 4> : PairedVecIO<__nv_bfloat16, __nv_bfloat162, bf162_to_float2, floats_to_bf162> {};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
// Hopper and later have a float4 atomicAdd on global memory: one atomic for four channels.
template <>
struct VecAccumulate<float, 4> {
  static __device__ void add(float* dst, const float g[4], float w) {
    atomicAdd(reinterpret_cast<float4*>(dst), make_float4(g[0] * w, g[1] * w, g[2] * w, g[3] * w));
  }
};
#endif

namespace {

constexpr int kThreads = 256;

// Grid: x over (point, channel group) of one batch item, y over the batch. Consecutive threads take
// consecutive channel groups of a point, then the next point.
template <int VEC>
__device__ __forceinline__ bool element_of_thread(const Problem& pb, Element& e) {
  const int groups = pb.channels / VEC;
  const int j = int(blockIdx.x) * blockDim.x + int(threadIdx.x);
  e = {int64_t(blockIdx.y), int64_t(j / groups), (j % groups) * VEC};
  return j < pb.num_points * groups;
}

template <typename scalar_t, typename acc_t, int VEC>
__global__ void forward_kernel(Problem pb) {
  Element e;
  if (element_of_thread<VEC>(pb, e)) forward_element<scalar_t, acc_t, VEC>(e, pb);
}

// A point's channel-group shares of d(loss)/d(point) are summed with warp shuffles when the number
// of groups is a power of two <= 32 (a point's groups then sit in one warp, and every lane of the
// warp reaches the shuffles), else with atomics.
template <typename scalar_t, typename acc_t, int VEC>
__global__ void backward_kernel(Problem pb, bool lanes_reduce) {
  Element e;
  const bool valid = element_of_thread<VEC>(pb, e);
  acc_t grad_point[3] = {acc_t(0), acc_t(0), acc_t(0)};
  if (valid) backward_element<scalar_t, acc_t, VEC>(e, pb, grad_point);
  if (pb.grad_points == nullptr) return;
  acc_t* grad_points = static_cast<acc_t*>(pb.grad_points) + (e.b * pb.num_points + e.n) * 3;
  const int groups = pb.channels / VEC;
  if (lanes_reduce) {
    for (int offset = groups / 2; offset > 0; offset /= 2) {
      for (int k = 0; k < 3; ++k) grad_point[k] += __shfl_down_sync(0xffffffffu, grad_point[k], offset, groups);
    }
    if (valid && e.c0 == 0) {
      for (int k = 0; k < 3; ++k) grad_points[k] = grad_point[k];
    }
  } else if (valid) {
    for (int k = 0; k < 3; ++k) atomicAdd(grad_points + k, grad_point[k]);
  }
}

dim3 grid_for(const Problem& pb, int vec) {
  const int64_t per_batch = pb.num_points * (pb.channels / vec);
  return dim3(unsigned((per_batch + kThreads - 1) / kThreads), unsigned(pb.batch));
}

template <typename scalar_t, typename acc_t>
void run_forward(const Problem& pb, cudaStream_t stream) {
  if (pb.channels % 4 == 0) {
    forward_kernel<scalar_t, acc_t, 4><<<grid_for(pb, 4), kThreads, 0, stream>>>(pb);
  } else {
    forward_kernel<scalar_t, acc_t, 1><<<grid_for(pb, 1), kThreads, 0, stream>>>(pb);
  }
}

bool power_of_two_upto_32(int n) { return n <= 32 && (n & (n - 1)) == 0; }

template <typename scalar_t, typename acc_t>
void run_backward(const Problem& pb, cudaStream_t stream) {
  if (pb.channels % 4 == 0) {
    const bool lanes = power_of_two_upto_32(pb.channels / 4);
    backward_kernel<scalar_t, acc_t, 4><<<grid_for(pb, 4), kThreads, 0, stream>>>(pb, lanes);
  } else {
    const bool lanes = power_of_two_upto_32(pb.channels);
    backward_kernel<scalar_t, acc_t, 1><<<grid_for(pb, 1), kThreads, 0, stream>>>(pb, lanes);
  }
}

const char* last_error() {
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace

const char* launch_forward(const Problem& pb, void* stream) {
  if (pb.batch == 0 || pb.num_points == 0) return nullptr;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (pb.dtype) {
    case kFloat32: run_forward<float, float>(pb, s); break;
    case kFloat16: run_forward<__half, float>(pb, s); break;
    case kBFloat16: run_forward<__nv_bfloat16, float>(pb, s); break;
    case kFloat64: run_forward<double, double>(pb, s); break;
    default: return "triplane_sampler: unsupported dtype code";
  }
  return last_error();
}

const char* launch_backward(const Problem& pb, void* stream) {
  if (pb.batch == 0 || pb.num_points == 0) return nullptr;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  switch (pb.dtype) {
    case kFloat32: run_backward<float, float>(pb, s); break;
    case kFloat16: run_backward<__half, float>(pb, s); break;
    case kBFloat16: run_backward<__nv_bfloat16, float>(pb, s); break;
    case kFloat64: run_backward<double, double>(pb, s); break;
    default: return "triplane_sampler: unsupported dtype code";
  }
  return last_error();
}

}  // namespace tps
