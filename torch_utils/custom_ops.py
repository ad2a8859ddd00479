"""Build CUDA extensions on first use with ninja (torch.utils.cpp_extension), cached per source hash.

An op asks for its plugin with ``get_plugin(name, sources)``. With ``impl='auto'`` a missing GPU, a CPU
build of torch or a missing nvcc falls back to the reference path with one warning per op; with
``impl='cuda'`` the same situation raises ``CudaOpUnavailable`` naming what is missing.
Several processes (DDP ranks) may build at once: the build directory is keyed by the source hash and
guarded by a file lock, so one rank compiles and the others load the result.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import warnings
from pathlib import Path
from types import ModuleType

import torch

IMPLS = ("auto", "cuda", "cpu", "ref")
OPS_DIR = Path(__file__).resolve().parent / "ops"
_plugins: dict[str, ModuleType] = {}
_failures: dict[str, str] = {}
_warned: set[str] = set()


class OpUnavailable(RuntimeError):
    """A compiled path was forced (impl='cuda' or 'cpu') but cannot run here."""


class CudaOpUnavailable(OpUnavailable):
    """impl='cuda' was forced but the CUDA path cannot run here."""


def cache_root() -> Path:
    """Where compiled ops live: $NOVA3D_EXTENSIONS_DIR, else ~/.cache/nova3d/extensions."""
    env = os.environ.get("NOVA3D_EXTENSIONS_DIR")
    return Path(env) if env else Path.home() / ".cache" / "nova3d" / "extensions"


def missing_cuda_piece() -> str | None:
    """What stops CUDA ops here, or None when a GPU, a CUDA build of torch and nvcc are all present."""
    if torch.version.cuda is None:
        return "this torch is a CPU build (torch.version.cuda is None)"
    if not torch.cuda.is_available():
        return "no CUDA device is visible (torch.cuda.is_available() is False)"
    if shutil.which("nvcc") is None and not os.environ.get("CUDA_HOME"):
        return "nvcc is not on PATH and CUDA_HOME is not set"
    return None


def missing_cpu_piece() -> str | None:
    """What stops compiled CPU ops here, or None when a C++ compiler and ninja are there."""
    compiler = os.environ.get("CXX", "c++")
    if shutil.which(compiler) is None:
        return f"no C++ compiler ('{compiler}' is not on PATH; set CXX or install g++)"
    if shutil.which("ninja") is None and _ninja_beside_python() is None:
        return "ninja is not on PATH (pip install ninja)"
    return None


def _ninja_beside_python() -> Path | None:
    """The folder of the ninja beside this interpreter (a venv's, from requirements.txt), when the venv is
    not activated and no ninja is on PATH; None otherwise."""
    if shutil.which("ninja") is not None:
        return None
    beside = Path(sys.executable).parent
    return beside if (beside / "ninja").is_file() else None


def _source_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256(f"{torch.__version__}|{torch.version.cuda}".encode())
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def get_plugin(name: str, sources: list[str], headers: list[str] = (), cpu: bool = False,
               **build_kwargs) -> ModuleType:
    """Compile (or load from the cache) the extension built from ops/<sources>; raises on failure.
    cpu: a CPU kernel (C++ only, needs a compiler and ninja) rather than a CUDA one."""
    kind, error = ("CPU", OpUnavailable) if cpu else ("CUDA", CudaOpUnavailable)
    if name in _plugins:
        return _plugins[name]
    if name in _failures:
        raise error(_failures[name])
    missing = missing_cpu_piece() if cpu else missing_cuda_piece()
    if missing is not None:
        raise error(f"{kind} op '{name}' cannot run: {missing}")
    from torch.utils import cpp_extension

    venv_bin = _ninja_beside_python()
    if venv_bin is not None:  # cpp_extension runs `ninja` from PATH, for CUDA and CPU builds alike
        os.environ["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    src_paths = [OPS_DIR / s for s in sources]
    all_paths = src_paths + [OPS_DIR / h for h in headers]
    build_dir = cache_root() / f"{name}-{_source_hash(all_paths)}"
    build_dir.mkdir(parents=True, exist_ok=True)
    flags = dict(extra_cflags=["-O3"]) if cpu else dict(extra_cuda_cflags=["--use_fast_math"])
    try:
        with open(build_dir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            module = cpp_extension.load(name=name, sources=[str(p) for p in src_paths], build_directory=str(build_dir),
                                        extra_include_paths=[str(OPS_DIR)], verbose=False, **flags, **build_kwargs)
    except Exception as exc:  # a compiler error is long: keep its last line for the message
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        _failures[name] = f"{kind} op '{name}' failed to build in {build_dir}: {last}"
        raise error(_failures[name]) from exc
    _plugins[name] = module
    return module


def resolve_impl(impl: str, name: str, sources: list[str], headers: list[str], device: torch.device,
                 cpu_sources: list[str] = ()) -> ModuleType | None:
    """The plugin to use for this call, or None for the reference path.

    'ref' -> None. 'cuda' -> the CUDA plugin or CudaOpUnavailable. 'cpu' -> the CPU plugin (built from
    cpu_sources; the op must have them) or OpUnavailable. 'auto' -> the plugin of the tensors' device when
    the op has one and it builds, otherwise None with a one-time warning (no warning for CPU tensors of an
    op without a CPU kernel: ref is right). The CPU plugin's name is name + '_cpu'.
    """
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if impl == "ref":
        return None
    if impl == "cuda" and device.type != "cuda":
        raise CudaOpUnavailable(f"CUDA op '{name}' was forced (impl='cuda') on a {device.type} tensor")
    cpu = device.type == "cpu"
    if impl == "cpu" and (not cpu or not cpu_sources):
        raise OpUnavailable(f"op '{name}' has no CPU kernel for {device.type} tensors (impl='cpu')")
    plugin_name, plugin_sources = (f"{name}_cpu", list(cpu_sources)) if cpu else (name, sources)
    if impl != "auto":
        return get_plugin(plugin_name, plugin_sources, headers, cpu=cpu)
    if device.type not in ("cpu", "cuda") or (cpu and (not cpu_sources or os.environ.get("NOVA3D_CPU_OPS") == "0")):
        return None
    try:
        return get_plugin(plugin_name, plugin_sources, headers, cpu=cpu)
    except OpUnavailable as exc:
        if plugin_name not in _warned:
            _warned.add(plugin_name)
            warnings.warn(f"{exc}; using the reference implementation", RuntimeWarning, stacklevel=3)
        return None
