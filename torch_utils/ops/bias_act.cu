// CUDA kernel of bias_act: a grid-stride loop over elements; the math is in bias_act.h.
// Plain CUDA headers only, so `nvcc -c bias_act.cu` builds without torch (tests/test_kernels_compile.py).
#include <cuda_runtime.h>

#include "bias_act.h"
#include "nova_cuda_types.cuh"

namespace {

using namespace nova_bias_act;
using namespace nova_cuda;

template <typename S>
__global__ void bias_act_kernel(BiasActParams p) {
    using T = typename Compute<S>::type;
    const S* x = static_cast<const S*>(p.x);
    const S* b = static_cast<const S*>(p.b);
    const S* dy = static_cast<const S*>(p.dy);
    const S* ddx = static_cast<const S*>(p.ddx);
    S* out = static_cast<S*>(p.out);
    const long long step = static_cast<long long>(gridDim.x) * blockDim.x;
    for (long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += step) {
        T xb = load(x[i]);
        if (b) xb += load(b[bias_index(i, p.bias_stride, p.bias_size)]);
        const T g1 = dy ? load(dy[i]) : T(0);
        const T g2 = ddx ? load(ddx[i]) : T(0);
        out[i] = store<S>(bias_act_element<T>(p.mode, p.act, xb, g1, g2, T(p.alpha), T(p.gain), T(p.clamp)));
    }
}

template <typename S>
void launch(const BiasActParams& p, cudaStream_t stream) {
    const int threads = 256;
    const long long wanted = (p.n + threads - 1) / threads;
    const int blocks = static_cast<int>(wanted < 65536 ? (wanted > 0 ? wanted : 1) : 65536);
    bias_act_kernel<S><<<blocks, threads, 0, stream>>>(p);
}

}  // namespace

int nova_bias_act_launch(const BiasActParams& p, void* stream) {
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
