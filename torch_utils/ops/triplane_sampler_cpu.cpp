// CPU kernels of the fused tri-plane sampler: the per-element math of triplane_sampler.h (the CUDA
// kernels' own) in loops over points, on up to `threads` std::threads. Only pybind11 and numpy buffers
// (no torch headers), so the first-use compile takes seconds; triplane_sampler.py hands in zero-copy
// numpy views of its tensors. Arrays: planes channels-last (B, 3, H, W, D, C), points (B, N, 3), all
// float32 or all float64; the output and grad_out as in triplane_sampler.h.
//
// Forward splits the points into blocks. Backward runs one task per (batch item, plane): a plane's
// gradient texels are written by its task alone, so there are no races and the sums come out in the
// same order every run (deterministic); each task keeps its own share of the point gradient, summed at
// the end.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "triplane_sampler.h"

namespace py = pybind11;

namespace {

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

constexpr int64_t kPointsPerBlock = 4096;

template <typename T>
tps::Problem make_problem(const Array<T>& planes, const Array<T>& points, double scale, bool back_frame, int reduce) {
  if (planes.ndim() != 6 || planes.shape(1) != 3) throw std::invalid_argument("planes must be (B, 3, H, W, D, C)");
  if (points.ndim() != 3 || points.shape(2) != 3 || points.shape(0) != planes.shape(0))
    throw std::invalid_argument("points must be (B, N, 3)");
  if (reduce < tps::kNone || reduce > tps::kMean) throw std::invalid_argument("bad reduce code");
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

// fn(task) for every task in [0, tasks), task blocks spread over up to `threads` threads.
template <typename Fn>
void run_tasks(int64_t tasks, int threads, Fn fn) {
  const int64_t workers = std::max<int64_t>(1, std::min<int64_t>(threads, tasks));
  if (workers == 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    return;
  }
  std::vector<std::thread> pool;
  for (int64_t w = 0; w < workers; ++w) {
    pool.emplace_back([=, &fn] {
      for (int64_t t = w * tasks / workers; t < (w + 1) * tasks / workers; ++t) fn(t);
    });
  }
  for (std::thread& t : pool) t.join();
}

// VEC channels per element: `vec` (1, 4 or 16; the tests take the CUDA kernels' 1 and 4), or with vec = 0
// the widest that divides C, so that the inner loops over VEC channels vectorise.
template <typename Body>
void with_vec(int channels, int vec, Body body) {
  if (vec == 0) vec = channels % 16 == 0 ? 16 : channels % 4 == 0 ? 4 : 1;
  if ((vec != 1 && vec != 4 && vec != 16) || channels % vec != 0)
    throw std::invalid_argument("vec must be 1, 4 or 16 and divide the channels");
  if (vec == 16) {
    body(std::integral_constant<int, 16>{});
  } else if (vec == 4) {
    body(std::integral_constant<int, 4>{});
  } else {
    body(std::integral_constant<int, 1>{});
  }
}

template <typename T>
Array<T> forward(const Array<T>& planes, const Array<T>& points, double scale, bool back_frame, int reduce,
                 int threads, int vec) {
  tps::Problem pb = make_problem(planes, points, scale, back_frame, reduce);
  std::vector<py::ssize_t> shape{pb.batch, pb.num_points};
  if (reduce == tps::kNone) shape.push_back(3);
  shape.push_back(pb.channels);
  Array<T> out(shape);
  pb.out = out.mutable_data();
  const int64_t blocks = (pb.num_points + kPointsPerBlock - 1) / kPointsPerBlock;
  {
    py::gil_scoped_release release;
    with_vec(pb.channels, vec, [&](auto width) {
      constexpr int VEC = decltype(width)::value;
      run_tasks(pb.batch * blocks, threads, [&](int64_t task) {
        const int64_t b = task / blocks, first = (task % blocks) * kPointsPerBlock;
        const int64_t last = std::min(first + kPointsPerBlock, pb.num_points);
        for (int64_t n = first; n < last; ++n)
          for (int c0 = 0; c0 < pb.channels; c0 += VEC) tps::forward_element<T, T, VEC>(tps::Element{b, n, c0}, pb);
      });
    });
  }
  return out;
}

// Returns (grad_planes channels-last or None, grad_points or None).
template <typename T>
py::tuple backward(const Array<T>& planes, const Array<T>& points, const Array<T>& grad_out, double scale,
                   bool back_frame, int reduce, bool want_planes, bool want_points, int threads, int vec) {
  tps::Problem pb = make_problem(planes, points, scale, back_frame, reduce);
  const int64_t out_size = pb.batch * pb.num_points * (reduce == tps::kNone ? 3 : 1) * pb.channels;
  if (grad_out.size() != out_size) throw std::invalid_argument("grad_out must have the output's shape");
  py::object grad_planes_obj = py::none(), grad_points_obj = py::none();
  Array<T> grad_planes, grad_points;
  if (want_planes) {
    grad_planes = Array<T>(std::vector<py::ssize_t>(planes.shape(), planes.shape() + planes.ndim()));
    std::memset(grad_planes.mutable_data(), 0, sizeof(T) * grad_planes.size());
    pb.grad_planes = grad_planes.mutable_data();
    grad_planes_obj = grad_planes;
  }
  // per (batch item, plane): d(loss)/d(normalised coord) of every point, summed over the planes at the end
  std::vector<T> coord_grads(want_points ? size_t(pb.batch * 3 * pb.num_points * 3) : 0, T(0));
  pb.grad_out = grad_out.data();
  pb.grad_points = want_points ? coord_grads.data() : nullptr;  // non-null: backward_plane computes the share
  if (want_points) grad_points = Array<T>(std::vector<py::ssize_t>{pb.batch, pb.num_points, 3});
  {
    py::gil_scoped_release release;
    with_vec(pb.channels, vec, [&](auto width) {
      constexpr int VEC = decltype(width)::value;
      run_tasks(pb.batch * 3, threads, [&](int64_t task) {
        const int64_t b = task / 3;
        const int p = int(task % 3);
        for (int64_t n = 0; n < pb.num_points; ++n) {
          T coord[3], dcoord[3];
          tps::point_coords(static_cast<const T*>(pb.points) + (b * pb.num_points + n) * 3, pb, coord, dcoord);
          T* grad_coord = want_points ? coord_grads.data() + ((b * 3 + p) * pb.num_points + n) * 3 : nullptr;
          T unused[3] = {T(0), T(0), T(0)};
          for (int c0 = 0; c0 < pb.channels; c0 += VEC)
            tps::backward_plane<T, T, VEC>(tps::Element{b, n, c0}, pb, p, coord, grad_coord ? grad_coord : unused);
        }
      });
    });
    if (want_points) {
      T* gp = grad_points.mutable_data();
      T origin[3] = {T(0), T(0), T(0)}, coord[3], dcoord[3];
      tps::point_coords(origin, pb, coord, dcoord);  // d(coord)/d(world): the same for every point
      for (int64_t b = 0; b < pb.batch; ++b) {
        for (int64_t n = 0; n < pb.num_points; ++n) {
          for (int k = 0; k < 3; ++k) {
            T sum = T(0);
            for (int p = 0; p < 3; ++p) sum += coord_grads[((b * 3 + p) * pb.num_points + n) * 3 + k];
            gp[(b * pb.num_points + n) * 3 + k] = sum * dcoord[k];
          }
        }
      }
    }
  }
  if (want_points) grad_points_obj = grad_points;
  return py::make_tuple(grad_planes_obj, grad_points_obj);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  using py::arg;
  m.def("forward_f32", &forward<float>, "fused tri-plane sampler, forward (float32)", arg("planes"), arg("points"),
        arg("scale"), arg("back_frame"), arg("reduce"), arg("threads") = 1, arg("vec") = 0);
  m.def("forward_f64", &forward<double>, "fused tri-plane sampler, forward (float64)", arg("planes"), arg("points"),
        arg("scale"), arg("back_frame"), arg("reduce"), arg("threads") = 1, arg("vec") = 0);
  m.def("backward_f32", &backward<float>, "gradients w.r.t. planes and points (float32)", arg("planes"),
        arg("points"), arg("grad_out"), arg("scale"), arg("back_frame"), arg("reduce"), arg("want_planes"),
        arg("want_points"), arg("threads") = 1, arg("vec") = 0);
  m.def("backward_f64", &backward<double>, "gradients w.r.t. planes and points (float64)", arg("planes"),
        arg("points"), arg("grad_out"), arg("scale"), arg("back_frame"), arg("reduce"), arg("want_planes"),
        arg("want_points"), arg("threads") = 1, arg("vec") = 0);
}
