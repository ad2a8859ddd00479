// NOVA_HD marks the per-element math functions of the op headers: __host__ __device__ under nvcc, plain
// inline C++ for g++, so the CPU test loops (tests/host/) compile the very functions the kernels run.
#pragma once

#ifndef NOVA_HD
#ifdef __CUDACC__
#define NOVA_HD __host__ __device__
#else
#define NOVA_HD
#endif
#endif
