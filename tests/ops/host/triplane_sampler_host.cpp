// CPU loop over the fused tri-plane sampler's per-element functions (torch_utils/ops/triplane_sampler.h):
// the same forward_element / backward_element the CUDA kernels run (VEC = 1 or 4 channels per
// element, as the kernels choose), one element after another, so
// tests/test_ops_triplane_sampler.py can check the kernel math against the reference op on CPU.
// Arrays: planes channels-last (B, 3, H, W, D, C), points (B, N, 3), all float32 or all float64.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "triplane_sampler.h"

namespace py = pybind11;

namespace {

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

template <typename T>
tps::Problem make_problem(const Array<T>& planes, const Array<T>& points, double scale, bool back_frame, int reduce) {
  if (planes.ndim() != 6 || planes.shape(1) != 3) throw std::invalid_argument("planes must be (B, 3, H, W, D, C)");
  if (points.ndim() != 3 || points.shape(2) != 3 || points.shape(0) != planes.shape(0))
    throw std::invalid_argument("points must be (B, N, 3)");
  tps::Problem pb{};
  pb.planes = planes.data();
  pb.points = points.data();
  pb.batch = planes.shape(0);
  pb.num_points = points.shape(1);
  pb.height = int(planes.shape(2));
  pb.width = int(planes.shape(3));
  pb.depth = int(planes.shape(4));
  pb.channels = int(planes.shape(5));
  pb.scale = scale;
  pb.back_frame = back_frame ? 1 : 0;
  pb.reduce = reduce;
  return pb;
}

// Calls fn(element) for every element, in the kernels' order, with VEC channels per element.
template <int VEC, typename Fn>
void for_each_element(const tps::Problem& pb, Fn fn) {
  if (pb.channels % VEC != 0) throw std::invalid_argument("channels must be divisible by vec");
  for (int64_t b = 0; b < pb.batch; ++b)
    for (int64_t n = 0; n < pb.num_points; ++n)
      for (int c0 = 0; c0 < pb.channels; c0 += VEC) fn(tps::Element{b, n, c0});
}

template <typename T>
Array<T> forward(const Array<T>& planes, const Array<T>& points, double scale, bool back_frame, int reduce, int vec) {
  tps::Problem pb = make_problem(planes, points, scale, back_frame, reduce);
  std::vector<py::ssize_t> shape{pb.batch, pb.num_points};
  if (reduce == tps::kNone) shape.push_back(3);
  shape.push_back(pb.channels);
  Array<T> out(shape);
  pb.out = out.mutable_data();
  if (vec == 4) {
    for_each_element<4>(pb, [&](const tps::Element& e) { tps::forward_element<T, T, 4>(e, pb); });
  } else {
    for_each_element<1>(pb, [&](const tps::Element& e) { tps::forward_element<T, T, 1>(e, pb); });
  }
  return out;
}

template <typename T>
py::tuple backward(const Array<T>& planes, const Array<T>& points, const Array<T>& grad_out, double scale,
                   bool back_frame, int reduce, int vec) {
  tps::Problem pb = make_problem(planes, points, scale, back_frame, reduce);
  Array<T> grad_planes(std::vector<py::ssize_t>(planes.shape(), planes.shape() + planes.ndim()));
  Array<T> grad_points(std::vector<py::ssize_t>(points.shape(), points.shape() + points.ndim()));
  std::fill(grad_planes.mutable_data(), grad_planes.mutable_data() + grad_planes.size(), T(0));
  std::fill(grad_points.mutable_data(), grad_points.mutable_data() + grad_points.size(), T(0));
  pb.grad_out = grad_out.data();
  pb.grad_planes = grad_planes.mutable_data();
  pb.grad_points = grad_points.mutable_data();
  T* gp = grad_points.mutable_data();
  auto add_share = [&](const tps::Element& e, const T share[3]) {
    for (int k = 0; k < 3; ++k) gp[(e.b * pb.num_points + e.n) * 3 + k] += share[k];
  };
  if (vec == 4) {
    for_each_element<4>(pb, [&](const tps::Element& e) {
      T share[3];
      tps::backward_element<T, T, 4>(e, pb, share);
      add_share(e, share);
    });
  } else {
    for_each_element<1>(pb, [&](const tps::Element& e) {
      T share[3];
      tps::backward_element<T, T, 1>(e, pb, share);
      add_share(e, share);
    });
  }
  return py::make_tuple(grad_planes, grad_points);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward_f64", &forward<double>);
  m.def("forward_f32", &forward<float>);
  m.def("backward_f64", &backward<double>);
  m.def("backward_f32", &backward<float>);
}
