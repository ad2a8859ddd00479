// Torch binding of the bias_act CUDA kernel: checks tensors, allocates the output, launches.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include "bias_act.h"

namespace {

int dtype_code(at::ScalarType t) {
    switch (t) {
        case at::kFloat: return nova_bias_act::kFloat32;
        case at::kDouble: return nova_bias_act::kFloat64;
        case at::kHalf: return nova_bias_act::kFloat16;
        case at::kBFloat16: return nova_bias_act::kBFloat16;
        default: TORCH_CHECK(false, "bias_act: unsupported dtype ", t);
    }
    return -1;
}

// An empty tensor stands for "absent"; otherwise it must match x and is made contiguous.
torch::Tensor optional_input(const torch::Tensor& t, const torch::Tensor& x, const char* name) {
    if (t.numel() == 0) return t;
    TORCH_CHECK(t.device() == x.device() && t.scalar_type() == x.scalar_type(), "bias_act: ", name,
                " must match x in device and dtype");
    return t.contiguous();
}

}  // namespace

torch::Tensor bias_act(torch::Tensor x, torch::Tensor b, torch::Tensor dy, torch::Tensor ddx, int64_t dim,
                       int64_t mode, int64_t act, double alpha, double gain, double clamp) {
    TORCH_CHECK(x.is_cuda(), "bias_act: x must be a CUDA tensor");
    TORCH_CHECK(dim >= 0 && dim < x.dim(), "bias_act: dim out of range");
    const c10::cuda::CUDAGuard guard(x.device());
    x = x.contiguous();
    b = optional_input(b, x, "b");
    dy = optional_input(dy, x, "dy");
    ddx = optional_input(ddx, x, "ddx");
    TORCH_CHECK(b.numel() == 0 || (b.dim() == 1 && b.size(0) == x.size(dim)), "bias_act: b must have x.shape[dim] entries");
    TORCH_CHECK(dy.numel() == 0 || dy.sizes() == x.sizes(), "bias_act: dy must have the shape of x");
    TORCH_CHECK(ddx.numel() == 0 || ddx.sizes() == x.sizes(), "bias_act: ddx must have the shape of x");
    auto out = torch::empty_like(x, at::MemoryFormat::Contiguous);
    if (x.numel() == 0) return out;

    nova_bias_act::BiasActParams p{};
    p.x = x.data_ptr();
    p.b = b.numel() ? b.data_ptr() : nullptr;
    p.dy = dy.numel() ? dy.data_ptr() : nullptr;
    p.ddx = ddx.numel() ? ddx.data_ptr() : nullptr;
    p.out = out.data_ptr();
    p.n = x.numel();
    p.bias_size = x.size(dim);
    p.bias_stride = 1;
    for (int64_t d = dim + 1; d < x.dim(); ++d) p.bias_stride *= x.size(d);
    p.mode = static_cast<int>(mode);
    p.act = static_cast<int>(act);
    p.dtype = dtype_code(x.scalar_type());
    p.alpha = alpha;
    p.gain = gain;
    p.clamp = clamp;
    const int err = nova_bias_act_launch(p, at::cuda::getCurrentCUDAStream().stream());
    TORCH_CHECK(err == 0, "bias_act: kernel launch failed: ", cudaGetErrorString(static_cast<cudaError_t>(err)));
    return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("bias_act", &bias_act, "fused bias + activation + gain + clamp and its derivatives (bias_act.h)");
}
