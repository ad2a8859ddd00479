// CPU loop over upfirdn2d.h, the same tap arithmetic the CUDA kernel runs (tests/test_ops_upfirdn2d.py).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "upfirdn2d.h"

namespace py = pybind11;
using Array = py::array_t<double, py::array::c_style | py::array::forcecast>;

// x: [N, C, H, W]; f: [fh, fw]. Same arguments as the CUDA binding's upfirdn2d.
Array upfirdn2d(Array x, Array f, int upx, int upy, int downx, int downy, int padx0, int padx1, int pady0, int pady1,
                bool flip, double gain) {
    using namespace nova_upfirdn2d;
    const auto n = x.shape(0), c = x.shape(1);
    const int in_h = static_cast<int>(x.shape(2)), in_w = static_cast<int>(x.shape(3));
    const int fh = static_cast<int>(f.shape(0)), fw = static_cast<int>(f.shape(1));
    const int out_h = out_size(in_h, upy, downy, pady0, pady1, fh);
    const int out_w = out_size(in_w, upx, downx, padx0, padx1, fw);
    Array out({n, c, static_cast<py::ssize_t>(out_h), static_cast<py::ssize_t>(out_w)});
    double* po = out.mutable_data();
    for (py::ssize_t plane = 0; plane < n * c; ++plane) {
        const double* xp = x.data() + plane * in_h * in_w;
        auto at = [xp, in_w](int jy, int jx) { return xp[jy * in_w + jx]; };
        for (int oy = 0; oy < out_h; ++oy) {
            const Taps ty = taps_1d(oy, upy, downy, pady0, fh, in_h);
            for (int ox = 0; ox < out_w; ++ox) {
                const Taps tx = taps_1d(ox, upx, downx, padx0, fw, in_w);
                *po++ = pixel<double>(at, f.data(), fw, fh, tx, ty, upx, upy, flip, gain);
            }
        }
    }
    return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("upfirdn2d", &upfirdn2d);
}
