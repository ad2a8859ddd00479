// Per-element math of bias_act, shared by the CUDA kernel (bias_act.cu) and the CPU test loop
// (tests/host/bias_act_host.cpp), so the arithmetic the GPU runs is checked on every CPU test run.
#pragma once

#include <math.h>

#include "nova_hd.h"

namespace nova_bias_act {

// Activation codes; the Python side (bias_act.py) uses the same numbers.
enum Act { kLinear = 0, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };

// What the kernel computes per element (see bias_act.py for the autograd wiring):
//   kValue: y = clamp(gain * f(x + b))
//   kGrad:  dx = dy * gain * f'(x + b) * inside
//   kGrad2: d2 = dy * ddx * gain * f''(x + b) * inside, the derivative of kGrad's result w.r.t. x
// where inside = |gain * f(x + b)| <= clamp (always 1 without a clamp), as torch.clamp's gradient.
enum Mode { kValue = 0, kGrad = 1, kGrad2 = 2 };

template <typename T>
struct ActDerivs {
    T f, d1, d2;  // f(x), f'(x), f''(x)
};

template <typename T>
NOVA_HD inline T sigmoid(T x) {
    return T(1) / (T(1) + exp(-x));
}

template <typename T>
NOVA_HD inline ActDerivs<T> activation(int act, T x, T alpha) {
    const T zero(0), one(1);
    switch (act) {
        case kRelu:
            return x > zero ? ActDerivs<T>{x, one, zero} : ActDerivs<T>{zero, zero, zero};
        case kLrelu:
            return x > zero ? ActDerivs<T>{x, one, zero} : ActDerivs<T>{alpha * x, alpha, zero};
        case kTanh: {
            const T t = tanh(x), d = one - t * t;
            return {t, d, T(-2) * t * d};
        }
        case kSigmoid: {
            const T s = sigmoid(x), d = s * (one - s);
            return {s, d, d * (one - T(2) * s)};
        }
        case kElu: {  // alpha scales the negative branch, as torch.nn.functional.elu
            if (x > zero) return {x, one, zero};
            const T e = alpha * exp(x);
            return {e - alpha, e, e};
        }
        case kSelu: {
            const T scale = T(1.0507009873554804934193349852946);
            const T a = T(1.6732632423543772848170429916717);
            if (x > zero) return {scale * x, scale, zero};
            const T e = scale * a * exp(x);
            return {e - scale * a, e, e};
        }
        case kSoftplus: {  // log(1 + e^x) written so that it neither overflows nor loses small values
            const T s = sigmoid(x), d = s * (one - s);
            return {fmax(x, zero) + log1p(exp(-fabs(x))), s, d};
        }
        case kSwish: {  // x * sigmoid(x)
            const T s = sigmoid(x), d = s * (one - s);
            return {x * s, s + x * d, d * (T(2) + x * (one - T(2) * s))};
        }
        default:  // kLinear
            return {x, one, zero};
    }
}

// Index into the bias for flat element i of a contiguous tensor whose bias dimension has `bias_size`
// entries and whose dimensions after it hold `bias_stride` elements together.
NOVA_HD inline long long bias_index(long long i, long long bias_stride, long long bias_size) {
    return (i / bias_stride) % bias_size;
}

// One output element. xb = x + b; dy and ddx are ignored by the modes that do not use them;
// clamp < 0 means no clamp.
template <typename T>
NOVA_HD inline T bias_act_element(int mode, int act, T xb, T dy, T ddx, T alpha, T gain, T clamp) {
    const ActDerivs<T> a = activation(act, xb, alpha);
    const T y = gain * a.f;
    if (mode == kValue) return clamp >= T(0) ? fmin(fmax(y, -clamp), clamp) : y;
    if (clamp >= T(0) && fabs(y) > clamp) return T(0);
    return mode == kGrad ? dy * gain * a.d1 : dy * ddx * gain * a.d2;
}

// Arguments of the CUDA launcher. Pointers are to contiguous tensors of the dtype named by `dtype`;
// b, dy, ddx may be null when the mode does not read them (b null means no bias).
enum Dtype { kFloat32 = 0, kFloat64, kFloat16, kBFloat16 };

struct BiasActParams {
    const void* x;
    const void* b;
    const void* dy;
    const void* ddx;
    void* out;
    long long n;
    long long bias_stride;
    long long bias_size;
    int mode;
    int act;
    int dtype;
    double alpha;
    double gain;
    double clamp;
};

}  // namespace nova_bias_act

// Defined in bias_act.cu; `stream` is a cudaStream_t. Returns a cudaError_t as int (0 = success).
int nova_bias_act_launch(const nova_bias_act::BiasActParams& p, void* stream);
