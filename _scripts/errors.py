"""How every command ends: one exit-code convention, one line per failure, output folders checked first.

Exit codes (README, "Exit codes"):
    0  done
    1  the work failed: out of memory, a full disk, an error while writing, a renderer that cannot start,
       some files of a batch that failed, or a bug (a traceback)
    2  bad usage or bad input, whenever it is found: a usage error, a missing or unreadable input (snapshot,
       image, weight file, data root), data that fails its checks, an output folder that cannot be written
       or holds other settings' output, a resume that disagrees with its snapshot
Error lines go to stderr, each on its own line: progress bars still on screen are closed first. A command
module imports from here and from _scripts/options.py (or _scripts/data/options.py), never from another
command.
"""
from __future__ import annotations

import errno
import os
import re
import sys
import tempfile
from pathlib import Path

import click
import torch
from tqdm import tqdm

from training.data.checks import DatasetProblems
from training.data.synth.gl_render import RendererUnavailable

OK, FAILED, BAD_INPUT = 0, 1, 2
WORKER_LAST_LINE = re.compile(r"^[\w.]+: (.*)$")  # "training.data.checks.DatasetError: <message>"


class BadInput(ValueError):
    """A bad command line or input found after parsing; printed as one line (exit code 2)."""


def failure(exc: BaseException) -> tuple[int, list[str]] | None:
    """The exit code and error lines of an expected failure; None for anything else (a bug, whose
    traceback is the useful report)."""
    if isinstance(exc, DatasetProblems):
        return BAD_INPUT, [*exc.problems, f"{len(exc.problems)} problem(s) in the data; nothing was done"]
    if isinstance(exc, click.ClickException):
        return BAD_INPUT, [exc.format_message()]
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return FAILED, ["out of memory; use a smaller --batch (generate, reconstruct and measure: or --lowmem)"]
    if isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError):
        return FAILED, [os_error_line(exc)]
    if isinstance(exc, (ValueError, FileNotFoundError)):  # DatasetError, ImageError, BadInput, ... are ValueErrors
        return BAD_INPUT, [error_line(exc)]
    if isinstance(exc, RendererUnavailable):
        return FAILED, [error_line(exc)]
    return None


def error_line(exc: BaseException) -> str:
    """The first line of an error's message. An error re-raised from a DataLoader worker carries the
    worker's traceback in its message; its last line holds the original message, which is the one kept."""
    text = str(exc)
    if text.startswith("Caught ") and "Original Traceback" in text:
        last = text.strip().splitlines()[-1]
        match = WORKER_LAST_LINE.match(last)
        text = match.group(1) if match else last
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)


def os_error_line(exc: OSError) -> str:
    """'PATH: what went wrong', with a full disk spelled 'no space left on device'."""
    what = "no space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or error_line(exc))
    return f"{exc.filename}: {what}" if exc.filename else what


def print_error_lines(lines: list[str], prefix: str = "error: ") -> None:
    """Each line on stderr on a line of its own, after closing any progress bar still drawn."""
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()
    for line in lines:
        click.echo(f"{prefix}{line}", err=True)


def report(exc: BaseException, prefix: str = "error: ") -> int:
    """Print an expected failure's lines and return its exit code; re-raise anything else."""
    known = failure(exc)
    if known is None:
        raise exc
    status, lines = known
    print_error_lines(lines, prefix)
    return status


class OneLineErrors(click.Command):
    """A command that ends with the convention above: usage errors and expected failures print their
    'error: ...' lines and exit 2 or 1; called with standalone_mode=False it returns the exit code instead."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            status = super().main(args, prog_name, complete_var, standalone_mode=False, **extra) or OK
        except click.Abort:
            print_error_lines(["Aborted!"], prefix="")
            status = FAILED
        except Exception as exc:  # noqa: BLE001 - report() re-raises what it does not know
            status = report(exc)
        if standalone_mode:
            sys.exit(status)
        return status


def writable_folder(path: Path, flag: str = "--out") -> Path:
    """path, once it is sure that it is, or can be made, a folder this process can write in; BadInput
    naming it otherwise (under a plain file, or in a folder that cannot be written). Creates nothing."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise BadInput(f"{flag} {path}: {where}, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".nova3d-write-test-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise BadInput(f"{flag} {path}: cannot write in {existing} ({exc.strerror})") from None
    return path
