// CUDA kernels of the fused tri-plane sampler. Plain CUDA headers only (no torch), so `nvcc -c`
// compiles this file without a CUDA build of torch; triplane_sampler_binding.cpp calls the
// launchers. The per-element math is in triplane_sampler.h, shared with the CPU test loop.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "triplane_sampler.h"

namespace tps {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int64_t element_index() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}

template <typename scalar_t, typename acc_t>
__global__ void forward_kernel(Problem pb, int64_t total) {
  const int64_t idx = element_index();
  if (idx < total) forward_element<scalar_t, acc_t>(idx, pb);
}

// One thread per (point, channel). The C channel shares of d(loss)/d(point) are summed with warp
// shuffles when C is a power of two <= 32 (a point's C lanes then sit in one warp, and every lane
// of the warp reaches the shuffles), else with atomics.
template <typename scalar_t, typename acc_t>
__global__ void backward_kernel(Problem pb, int64_t total, bool lanes_reduce) {
  const int64_t idx = element_index();
  acc_t grad_point[3] = {acc_t(0), acc_t(0), acc_t(0)};
  if (idx < total) backward_element<scalar_t, acc_t>(idx, pb, grad_point);
  if (pb.grad_points == nullptr) return;
  acc_t* grad_points = static_cast<acc_t*>(pb.grad_points) + (idx / pb.channels) * 3;
  if (lanes_reduce) {
    for (int offset = pb.channels / 2; offset > 0; offset /= 2) {
      for (int k = 0; k < 3; ++k) grad_point[k] += __shfl_down_sync(0xffffffffu, grad_point[k], offset, pb.channels);
    }
    if (idx < total && idx % pb.channels == 0) {
      for (int k = 0; k < 3; ++k) grad_points[k] = grad_point[k];
    }
  } else if (idx < total) {
    for (int k = 0; k < 3; ++k) atomicAdd(grad_points + k, grad_point[k]);
  }
}

unsigned int blocks_for(int64_t total) { return unsigned((total + kThreads - 1) / kThreads); }

template <typename scalar_t, typename acc_t>
void run_forward(const Problem& pb, cudaStream_t stream) {
  const int64_t total = pb.batch * pb.num_points * pb.channels;
  if (total > 0) forward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(pb, total);
}

template <typename scalar_t, typename acc_t>
void run_backward(const Problem& pb, cudaStream_t stream) {
  const int64_t total = pb.batch * pb.num_points * pb.channels;
  const bool lanes_reduce = pb.channels <= 32 && (pb.channels & (pb.channels - 1)) == 0;
  if (total > 0) backward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(pb, total, lanes_reduce);
}

const char* last_error() {
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}

}  // namespace

const char* launch_forward(const Problem& pb, void* stream) {
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
