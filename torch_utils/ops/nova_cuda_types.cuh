// Storage type -> compute type for the CUDA kernels: half and bfloat16 are loaded into float and
// stored back with round-to-nearest; float and double compute in themselves. Explicit conversions,
// since torch builds with __CUDA_NO_HALF_CONVERSIONS__.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace nova_cuda {

template <typename S> struct Compute { using type = S; };
template <> struct Compute<__half> { using type = float; };
template <> struct Compute<__nv_bfloat16> { using type = float; };

__device__ inline float load(__half v) { return __half2float(v); }
__device__ inline float load(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline float load(float v) { return v; }
__device__ inline double load(double v) { return v; }

template <typename S> __device__ inline S store(typename Compute<S>::type v) { return v; }
template <> __device__ inline __half store<__half>(float v) { return __float2half_rn(v); }
template <> __device__ inline __nv_bfloat16 store<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

}  // namespace nova_cuda
