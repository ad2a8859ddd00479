"""Compile a CPU C++ loop that includes a kernel's math header, so tests can check the GPU math on CPU.

A CUDA op keeps its per-element math in ``__host__ __device__`` inline functions in
``torch_utils/ops/<op>.h`` (DESIGN.md, "Custom ops without a GPU"). A test writes a small C++ file
under ``tests/host/`` that includes that header and loops over elements on the CPU, exposing functions
through pybind11 (``PYBIND11_MODULE(TORCH_EXTENSION_NAME, m)``), and loads it with
``build_host_module``. Prefer pybind11 with numpy buffers over ``<torch/extension.h>`` in those files:
the compile takes about 10 s instead of about 35 s on 2 cores. Builds are cached on disk per source
hash (the C++ file, the quoted headers it reaches beside it or in ``torch_utils/ops``, the torch
version) and in memory per process, so a session compiles each once.
"""
from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import pathlib
import re
import shutil
import types

import pytest
import torch

OPS_DIR = pathlib.Path(__file__).resolve().parents[2] / "torch_utils" / "ops"
_INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.MULTILINE)


def host_cache_root() -> pathlib.Path:
    """$NOVA3D_EXTENSIONS_DIR/host-tests when set, else ~/.cache/nova3d/host-tests."""
    env = os.environ.get("NOVA3D_EXTENSIONS_DIR")
    base = pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "nova3d"
    return base / "host-tests"


def _local_includes(path: pathlib.Path) -> list[pathlib.Path]:
    """The file and the quoted includes it reaches, found beside it or in torch_utils/ops."""
    found, todo = [], [path]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.append(current)
        for name in _INCLUDE.findall(current.read_text()):
            todo += [p for p in (current.parent / name, OPS_DIR / name) if p.is_file()][:1]
    return found


def _source_hash(cpp_path: pathlib.Path) -> str:
    digest = hashlib.sha256(torch.__version__.encode())
    for path in _local_includes(cpp_path):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _skip_reason() -> str | None:
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler: '{compiler}' is not on PATH (set CXX or install g++)"
    if shutil.which("ninja") is None:
        return "ninja is not on PATH (pip install ninja): torch.utils.cpp_extension.load needs it"
    return None


@functools.lru_cache(maxsize=None)
def _build(name: str, cpp_path: pathlib.Path) -> types.ModuleType:
    from torch.utils import cpp_extension

    digest = _source_hash(cpp_path)
    build_dir = host_cache_root() / f"{name}-{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / ".lock", "w") as lock:  # parallel pytest workers: one compiles, the rest load
        fcntl.flock(lock, fcntl.LOCK_EX)
        return cpp_extension.load(name=f"{name}_{digest}", sources=[str(cpp_path)], build_directory=str(build_dir),
                                  extra_include_paths=[str(OPS_DIR)], extra_cflags=["-O2"], verbose=False)


def build_host_module(name: str, cpp_path: pathlib.Path) -> types.ModuleType:
    """Compile (or load from the cache) the CPU test loop ``cpp_path`` with torch_utils/ops on the include path.

    Skips the calling test when no C++ compiler (or ninja) is available, except under CI (CI set), where
    that fails it; a compile error always fails it.
    """
    reason = _skip_reason()
    if reason is not None:
        if os.environ.get("CI"):  # CI has the compiler: a missing one there is a broken image, not a skip
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return _build(name, pathlib.Path(cpp_path).resolve())
