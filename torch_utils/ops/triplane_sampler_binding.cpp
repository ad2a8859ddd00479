// Torch binding of the fused tri-plane sampler: checks tensors, allocates outputs and calls the
// launchers in triplane_sampler.cu on the current stream. Layout and shapes: triplane_sampler.h.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include <cstdint>
#include <vector>

#include "triplane_sampler.h"

namespace {

int dtype_code(at::ScalarType type) {
  switch (type) {
    case at::kFloat: return tps::kFloat32;
    case at::kHalf: return tps::kFloat16;
    case at::kBFloat16: return tps::kBFloat16;
    case at::kDouble: return tps::kFloat64;
    default: TORCH_CHECK(false, "triplane_sampler: planes must be float32, float16, bfloat16 or float64, got ", type);
  }
  return -1;
}

at::ScalarType acc_type(at::ScalarType type) { return type == at::kDouble ? at::kDouble : at::kFloat; }

// planes_cl: (B, 3, H, W, D, C) contiguous; points: (B, N, 3) contiguous in the accumulation type.
tps::Problem make_problem(const torch::Tensor& planes_cl, const torch::Tensor& points, double scale,
                          bool back_frame, int64_t reduce) {
  TORCH_CHECK(planes_cl.is_cuda() && points.is_cuda(), "triplane_sampler: tensors must be on a CUDA device");
  TORCH_CHECK(planes_cl.device() == points.device(), "triplane_sampler: planes and points on different devices");
  TORCH_CHECK(planes_cl.dim() == 6 && planes_cl.size(1) == 3, "triplane_sampler: planes_cl must be (B, 3, H, W, D, C)");
  TORCH_CHECK(points.dim() == 3 && points.size(2) == 3 && points.size(0) == planes_cl.size(0),
              "triplane_sampler: points must be (B, N, 3)");
  TORCH_CHECK(planes_cl.is_contiguous() && points.is_contiguous(), "triplane_sampler: tensors must be contiguous");
  TORCH_CHECK(points.scalar_type() == acc_type(planes_cl.scalar_type()),
              "triplane_sampler: points must be float64 with float64 planes and float32 otherwise");
  TORCH_CHECK(planes_cl.size(0) <= 65535 && points.size(1) * planes_cl.size(5) <= INT32_MAX,
              "triplane_sampler: at most 65535 batch items and 2^31 point channels per item");
  TORCH_CHECK(reduce >= tps::kNone && reduce <= tps::kMean, "triplane_sampler: bad reduce code ", reduce);
  tps::Problem pb{};
  pb.planes = planes_cl.data_ptr();
  pb.points = points.data_ptr();
  pb.batch = planes_cl.size(0);
  pb.num_points = points.size(1);
  pb.height = int(planes_cl.size(2));
  pb.width = int(planes_cl.size(3));
  pb.depth = int(planes_cl.size(4));
  pb.channels = int(planes_cl.size(5));
  pb.scale = scale;
  pb.back_frame = back_frame ? 1 : 0;
  pb.reduce = int(reduce);
  pb.dtype = dtype_code(planes_cl.scalar_type());
  return pb;
}

std::vector<int64_t> out_shape(const tps::Problem& pb) {
  if (pb.reduce == tps::kNone) return {pb.batch, pb.num_points, 3, pb.channels};
  return {pb.batch, pb.num_points, pb.channels};
}

void check_launch(const char* error) { TORCH_CHECK(error == nullptr, "triplane_sampler kernel failed: ", error); }

torch::Tensor forward(const torch::Tensor& planes_cl, const torch::Tensor& points, double scale, bool back_frame,
                      int64_t reduce) {
  const c10::cuda::CUDAGuard guard(planes_cl.device());
  tps::Problem pb = make_problem(planes_cl, points, scale, back_frame, reduce);
  torch::Tensor out = torch::empty(out_shape(pb), planes_cl.options());
  pb.out = out.data_ptr();
  check_launch(tps::launch_forward(pb, c10::cuda::getCurrentCUDAStream().stream()));
  return out;
}

// Returns {grad_planes_cl (accumulation type, channels-last), grad_points}; an unwanted one is empty.
std::vector<torch::Tensor> backward(const torch::Tensor& planes_cl, const torch::Tensor& points,
                                    const torch::Tensor& grad_out, double scale, bool back_frame, int64_t reduce,
                                    bool want_planes, bool want_points) {
  const c10::cuda::CUDAGuard guard(planes_cl.device());
  tps::Problem pb = make_problem(planes_cl, points, scale, back_frame, reduce);
  TORCH_CHECK(grad_out.is_contiguous() && grad_out.scalar_type() == planes_cl.scalar_type() &&
                  grad_out.sizes().vec() == out_shape(pb),
              "triplane_sampler: grad_out must be contiguous, of the planes' dtype and the output's shape");
  const auto acc = planes_cl.options().dtype(acc_type(planes_cl.scalar_type()));
  torch::Tensor grad_planes = want_planes ? torch::zeros(planes_cl.sizes(), acc) : torch::Tensor();
  torch::Tensor grad_points = want_points ? torch::zeros(points.sizes(), acc) : torch::Tensor();
  pb.grad_out = grad_out.data_ptr();
  pb.grad_planes = want_planes ? grad_planes.data_ptr() : nullptr;
  pb.grad_points = want_points ? grad_points.data_ptr() : nullptr;
  if (want_planes || want_points) check_launch(tps::launch_backward(pb, c10::cuda::getCurrentCUDAStream().stream()));
  return {grad_planes, grad_points};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "fused tri-plane sampler, forward");
  m.def("backward", &backward, "fused tri-plane sampler, gradients w.r.t. planes and points");
}
