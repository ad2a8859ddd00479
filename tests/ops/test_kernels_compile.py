"""Every CUDA kernel in torch_utils/ops compiles with `nvcc -c`, without a GPU or a CUDA build of torch.

The kernels include plain CUDA headers only (their torch bindings are separate .cpp files), so CI,
which has nvcc but no GPU, catches a kernel that would not build on a GPU machine. The flags mirror
what torch.utils.cpp_extension passes when custom_ops builds the op there (its COMMON_NVCC_FLAGS: no
implicit half/bfloat16 conversions or operators; plus custom_ops' fast math), so a kernel that converts
__half implicitly fails here as it would there.
"""
import pathlib
import shutil
import subprocess

import pytest

OPS_DIR = pathlib.Path(__file__).resolve().parents[2] / "torch_utils" / "ops"
KERNELS = sorted(OPS_DIR.glob("*.cu"))
TORCH_EXTENSION_FLAGS = ["-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__",
                         "-D__CUDA_NO_BFLOAT16_CONVERSIONS__", "-D__CUDA_NO_HALF2_OPERATORS__", "--expt-relaxed-constexpr",
                         "--use_fast_math"]


def test_there_are_kernels():
    assert KERNELS, f"no .cu files under {OPS_DIR}"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
@pytest.mark.parametrize("kernel", KERNELS, ids=[k.name for k in KERNELS])
def test_kernel_compiles_with_nvcc(kernel, tmp_path):
    cmd = ["nvcc", "-c", "-o", str(tmp_path / "kernel.o"), str(kernel), "-I", str(OPS_DIR), "-std=c++17",
           "-arch=sm_90", *TORCH_EXTENSION_FLAGS]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "kernel.o").stat().st_size > 0
