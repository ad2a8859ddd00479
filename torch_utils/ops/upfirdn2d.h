// Per-element math of upfirdn2d, shared by the CUDA kernel (upfirdn2d.cu) and the CPU test loop
// (tests/host/upfirdn2d_host.cpp): which input samples and filter taps make one output pixel.
//
// In one dimension, with input x[0..n), upsampling factor u (zeros inserted after each sample), padding
// p0 before, filter f[0..k) and downsampling factor d, output m is
//     y[m] = sum_j x[j] * f[idx(j*u + p0 - m*d)]   over the j with 0 <= j*u + p0 - m*d < k,
// where idx(t) = k-1-t (a true convolution) or t (flip_filter: a correlation).
#pragma once

#include "nova_hd.h"

namespace nova_upfirdn2d {

NOVA_HD inline int floor_div(int a, int b) {  // b > 0
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

NOVA_HD inline int ceil_div(int a, int b) {  // b > 0
    return -floor_div(-a, b);
}

// Output length along one dimension (0 when the padded, upsampled input is shorter than the filter).
NOVA_HD inline int out_size(int in, int up, int down, int pad0, int pad1, int taps) {
    const int n = floor_div(in * up + pad0 + pad1 - taps, down) + 1;
    return n > 0 ? n : 0;
}

// The inputs j = first, first+1, ..., first+count-1 reach output m; input `first` meets the filter at
// window position `tap0`, and each next input `up` positions further.
struct Taps {
    int first;
    int count;
    int tap0;
};

NOVA_HD inline Taps taps_1d(int m, int up, int down, int pad0, int taps, int in) {
    const int lo = m * down - pad0;  // window positions t = j*up - lo must lie in [0, taps)
    int first = ceil_div(lo, up);
    int last = floor_div(lo + taps - 1, up);
    first = first > 0 ? first : 0;
    last = last < in - 1 ? last : in - 1;
    return {first, last >= first ? last - first + 1 : 0, first * up - lo};
}

NOVA_HD inline int filter_index(int t, int taps, bool flip) {
    return flip ? t : taps - 1 - t;
}

// One output pixel: `load(jy, jx)` returns input sample (jy, jx) of the plane in the compute type T;
// f is the [fh, fw] filter, row-major.
template <typename T, typename Load>
NOVA_HD inline T pixel(Load load, const T* f, int fw, int fh, Taps tx, Taps ty, int upx, int upy, bool flip, T gain) {
    T acc(0);
    for (int iy = 0; iy < ty.count; ++iy) {
        const T* row = f + filter_index(ty.tap0 + iy * upy, fh, flip) * fw;
        for (int ix = 0; ix < tx.count; ++ix)
            acc += load(ty.first + iy, tx.first + ix) * row[filter_index(tx.tap0 + ix * upx, fw, flip)];
    }
    return acc * gain;
}

// Arguments of the CUDA launcher: x is [planes, in_h, in_w] contiguous in the dtype named by `dtype`,
// f is [fh, fw] contiguous in the compute type (double for float64, float otherwise), out is
// [planes, out_h, out_w] in x's dtype.
enum Dtype { kFloat32 = 0, kFloat64, kFloat16, kBFloat16 };

struct UpFirDn2dParams {
    const void* x;
    const void* f;
    void* out;
    long long planes;
    int in_w, in_h, out_w, out_h;
    int upx, upy, downx, downy, padx0, pady0;
    int fw, fh;
    bool flip;
    double gain;
    int dtype;
};

}  // namespace nova_upfirdn2d

// Defined in upfirdn2d.cu; `stream` is a cudaStream_t. Returns a cudaError_t as int (0 = success).
int nova_upfirdn2d_launch(const nova_upfirdn2d::UpFirDn2dParams& p, void* stream);
