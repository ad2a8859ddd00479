// Torch binding of the upfirdn2d CUDA kernel: checks tensors, allocates the output, launches.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include "upfirdn2d.h"

namespace {

int dtype_code(at::ScalarType t) {
    switch (t) {
        case at::kFloat: return nova_upfirdn2d::kFloat32;
        case at::kDouble: return nova_upfirdn2d::kFloat64;
        case at::kHalf: return nova_upfirdn2d::kFloat16;
        case at::kBFloat16: return nova_upfirdn2d::kBFloat16;
        default: TORCH_CHECK(false, "upfirdn2d: unsupported dtype ", t);
    }
    return -1;
}

}  // namespace

// x: [N, C, H, W]; f: [fh, fw]. Same arguments as the CPU test loop (tests/host/upfirdn2d_host.cpp).
torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int64_t upx, int64_t upy, int64_t downx, int64_t downy,
                        int64_t padx0, int64_t padx1, int64_t pady0, int64_t pady1, bool flip, double gain) {
    TORCH_CHECK(x.is_cuda() && x.dim() == 4, "upfirdn2d: x must be a 4-D CUDA tensor");
    TORCH_CHECK(f.dim() == 2 && f.device() == x.device(), "upfirdn2d: f must be a 2-D filter on x's device");
    TORCH_CHECK(upx >= 1 && upy >= 1 && downx >= 1 && downy >= 1, "upfirdn2d: up and down must be >= 1");
    const c10::cuda::CUDAGuard guard(x.device());
    x = x.contiguous();
    f = f.to(x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat).contiguous();

    nova_upfirdn2d::UpFirDn2dParams p{};
    p.planes = x.size(0) * x.size(1);
    p.in_h = static_cast<int>(x.size(2));
    p.in_w = static_cast<int>(x.size(3));
    p.fh = static_cast<int>(f.size(0));
    p.fw = static_cast<int>(f.size(1));
    p.upx = static_cast<int>(upx);
    p.upy = static_cast<int>(upy);
    p.downx = static_cast<int>(downx);
    p.downy = static_cast<int>(downy);
    p.padx0 = static_cast<int>(padx0);
    p.pady0 = static_cast<int>(pady0);
    p.out_w = nova_upfirdn2d::out_size(p.in_w, p.upx, p.downx, p.padx0, static_cast<int>(padx1), p.fw);
    p.out_h = nova_upfirdn2d::out_size(p.in_h, p.upy, p.downy, p.pady0, static_cast<int>(pady1), p.fh);
    p.flip = flip;
    p.gain = gain;
    p.dtype = dtype_code(x.scalar_type());
    auto out = torch::empty({x.size(0), x.size(1), p.out_h, p.out_w}, x.options());
    if (out.numel() == 0) return out;
    p.x = x.data_ptr();
    p.f = f.data_ptr();
    p.out = out.data_ptr();
    const int err = nova_upfirdn2d_launch(p, at::cuda::getCurrentCUDAStream().stream());
    TORCH_CHECK(err == 0, "upfirdn2d: kernel launch failed: ", cudaGetErrorString(static_cast<cudaError_t>(err)));
    return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("upfirdn2d", &upfirdn2d, "upsample, FIR filter, downsample one 2-D filter (upfirdn2d.h)");
}
