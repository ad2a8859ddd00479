"""keep_freed_memory: after it, a freed large tensor's memory stays in the process for the next one (the
system allocator hands it back to the kernel at once). Each case runs in a fresh interpreter, since the
setting is process-wide."""
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import sys
    import torch
    from torch_utils.cpu_memory import keep_freed_memory

    def rss_mb():
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

    took = keep_freed_memory() if sys.argv[1] == "keep" else False
    for _ in range(3):  # the file reads' small blocks get free slots below, so the big block tops the heap
        rss_mb()
    x = torch.ones(64 * 2 ** 20 // 4)  # 64 MB, written so it is resident
    before = rss_mb()
    del x
    print(took, round(before - rss_mb()))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc and glibc's mallopt are Linux's")
def test_freed_large_blocks_stay_in_the_process_only_with_the_setting():
    dropped = {}
    for mode in ("system", "keep"):
        done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
        took, released_mb = done.stdout.split()
        dropped[mode] = (took == "True", int(released_mb))
    if not dropped["keep"][0]:
        pytest.skip("this C library has no mallopt (not glibc)")
    assert dropped["system"][1] >= 60  # the 64 MB went back to the kernel on free
    assert dropped["keep"][1] <= 4  # ... and stays with the setting

