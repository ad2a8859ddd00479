// CPU loop over bias_act.h, the same per-element math the CUDA kernel runs (tests/test_ops_bias_act.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "bias_act.h"

namespace py = pybind11;

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

// Same arguments as the CUDA binding's bias_act, with the bias layout given as (stride, size);
// an empty b, dy or ddx means absent.
template <typename T>
Array<T> bias_act(Array<T> x, Array<T> b, Array<T> dy, Array<T> ddx, long long bias_stride, long long bias_size,
                  int mode, int act, double alpha, double gain, double clamp) {
    Array<T> out(x.request().shape);
    const T* px = x.data();
    const T* pb = b.size() ? b.data() : nullptr;
    const T* pdy = dy.size() ? dy.data() : nullptr;
    const T* pddx = ddx.size() ? ddx.data() : nullptr;
    T* po = out.mutable_data();
    for (long long i = 0; i < static_cast<long long>(x.size()); ++i) {
        T xb = px[i];
        if (pb) xb += pb[nova_bias_act::bias_index(i, bias_stride, bias_size)];
        const T g1 = pdy ? pdy[i] : T(0);
        const T g2 = pddx ? pddx[i] : T(0);
        po[i] = nova_bias_act::bias_act_element<T>(mode, act, xb, g1, g2, T(alpha), T(gain), T(clamp));
    }
    return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("bias_act_f32", &bias_act<float>);
    m.def("bias_act_f64", &bias_act<double>);
}
