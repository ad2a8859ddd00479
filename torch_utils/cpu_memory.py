"""How a CPU training process takes memory from the system (glibc's malloc), set once at start.

glibc serves every block over its mmap threshold (at most 32 MB: most activations of a training step) with
a fresh mmap and unmaps it on free, so each step page-faults and zeroes all of its large tensors again.
On the 2-core development machine that was a third of a body G step at the paper's config (24.6 -> 15.6 s,
docs/PERFORMANCE.md). ``keep_freed_memory`` makes malloc serve those blocks from its heap and reuse them
(mallopt M_MMAP_MAX = 0), and never gives the heap's free top back to the kernel (M_TRIM_THRESHOLD = -1):
without the second, a freed block that happens to lie at the top of the heap is returned at once, so whether
memory stayed depended on where the allocator had placed the last small objects. The price is
fragmentation: about 1 GB more peak resident memory in that step. The same setting from outside is
``GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=18446744073709551615``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h): free top size that is given back (-1: never) ...
M_MMAP_MAX = -4  # ... and the most blocks served by mmap at once


def keep_freed_memory() -> bool:
    """Serve large blocks from the heap and keep freed memory for reuse; True where it took effect
    (Linux with glibc), False elsewhere (other platforms or C libraries keep their behaviour)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, -1) == 1
