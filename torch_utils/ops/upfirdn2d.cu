// CUDA kernel of upfirdn2d: one thread per output pixel (grid-stride); the tap arithmetic is in upfirdn2d.h.
// Plain CUDA headers only, so `nvcc -c upfirdn2d.cu` builds without torch (tests/test_kernels_compile.py).
#include <cuda_runtime.h>

#include "upfirdn2d.h"
#include "nova_cuda_types.cuh"

namespace {

using namespace nova_upfirdn2d;
using namespace nova_cuda;

template <typename S>
__global__ void upfirdn2d_kernel(UpFirDn2dParams p) {
    using T = typename Compute<S>::type;
    const S* x = static_cast<const S*>(p.x);
    const T* f = static_cast<const T*>(p.f);
    S* out = static_cast<S*>(p.out);
    const long long plane_out = static_cast<long long>(p.out_h) * p.out_w;
    const long long plane_in = static_cast<long long>(p.in_h) * p.in_w;
    const long long n = p.planes * plane_out;
    const long long step = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
        const long long plane = i / plane_out;
        const int oy = static_cast<int>((i % plane_out) / p.out_w);
        const int ox = static_cast<int>(i % p.out_w);
        const S* xp = x + plane * plane_in;
        const int w = p.in_w;
        auto at = [xp, w](int jy, int jx) { return load(xp[static_cast<long long>(jy) * w + jx]); };
        const Taps tx = taps_1d(ox, p.upx, p.downx, p.padx0, p.fw, p.in_w);
        const Taps ty = taps_1d(oy, p.upy, p.downy, p.pady0, p.fh, p.in_h);
        out[i] = store<S>(pixel<T>(at, f, p.fw, p.fh, tx, ty, p.upx, p.upy, p.flip, T(p.gain)));
    }
}

template <typename S>
void launch(const UpFirDn2dParams& p, cudaStream_t stream) {
    const int threads = 256;
    const long long wanted = (p.planes * p.out_h * p.out_w + threads - 1) / threads;
    const int blocks = static_cast<int>(wanted < 65536 ? (wanted > 0 ? wanted : 1) : 65536);
    upfirdn2d_kernel<S><<<blocks, threads, 0, stream>>>(p);
}

}  // namespace

int nova_upfirdn2d_launch(const UpFirDn2dParams& p, void* stream) {
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    switch (p.dtype) {
        case kFloat32: launch<float>(p, s); break;
        case kFloat64: launch<double>(p, s); break;
        case kFloat16: launch<__half>(p, s); break;
        case kBFloat16: launch<__nv_bfloat16>(p, s); break;
        default: return static_cast<int>(cudaErrorInvalidValue);
    }
    return static_cast<int>(cudaGetLastError());
}
