"""Writing a file so that it is either whole or absent: a hidden temporary file in the same folder,
renamed over the final name when the writer is done.

An interrupted or failed write (a full disk, a kill) never leaves a truncated or 0-byte file under the
final name, and a file written earlier under that name stays as it was. A write that fails raises
OSError naming the final path, so a full disk reads "PATH: no space left on device".
"""
from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: Path, fsync: bool = False) -> Iterator[Path]:
    """A temporary path next to path (same suffix, so writers that go by the suffix still work) to write;
    renamed to path when the block ends, removed when it raises. fsync: flush the file to disk first."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise naming(exc, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> Path:
    """path's contents replaced by text, whole or not at all."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


@contextmanager
def errors_name(path: Path) -> Iterator[None]:
    """OSErrors raised inside the block that name no file are re-raised naming path (an image writer
    reports a full disk without saying which file it was writing)."""
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        raise naming(exc, path) from None


def naming(exc: OSError, path: Path) -> OSError:
    """The same error about path (the final name, not a temporary one), its text in lower case for a full
    disk: 'PATH: no space left on device'."""
    text = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return type(exc)(exc.errno, text, str(path))


def is_temp_file(path: Path) -> bool:
    """Whether path is one of atomic_path's temporary files (left behind only by a killed process)."""
    return path.name.startswith(".") and ".tmp" in path.name
