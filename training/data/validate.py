"""Refuse bad data before any work: the checks of training/data/checks.py over every character of the
splits a command will read, remembered per data root so that a restart does not pay them again.

Takes a data root, a preset and split names (validate_splits, for training), or a few characters
(validate_characters, for generate and measure); gives nothing, or raises DatasetProblems with one line
per problem (DatasetError, one line, for an unreadable meta json). The default pass reads the meta json, the
split lists and every image's header (PNG signature, size, colour type: training/data/checks.py's
header_problem); full=True also decodes every image. A pass is remembered in <root>/.nova3d-check.json
(for a data root that cannot be written: in $XDG_CACHE_HOME/nova3d/) under a fingerprint of the size
and modification time of every file it looked at, so changing any of them checks again. Problems are
never remembered.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Iterable

from dnnlib.files import write_text_atomic
from training.data.checks import (CharacterIndex, DatasetProblems, character_files, characters_problems, load_meta,
                                  split_problems, stored_size)
from training.data.layout import PRESETS, Renderset, read_split, split_path

CACHE_NAME = ".nova3d-check.json"
CHECK_VERSION = 1  # raise when a check changes: passes remembered under older checks no longer count


def validate_splits(root: Path, preset: str, splits: Iterable[str], optional: Iterable[str] = (), renderset: str = "",
                    subset: str = "", full: bool = False, use_features: bool = False, progress: bool = False) -> None:
    """Raise DatasetProblems listing every problem of the splits' lists (optional ones may be absent) and
    characters (use_features: their ortho_katepca_chonk files must exist too); return at once when the
    same pass succeeded on the same files before. progress: a progress bar, on a terminal only (a log would
    keep its redraws)."""
    root, p, splits, optional = Path(root), PRESETS[preset], tuple(splits), tuple(optional)
    rs, subset = Renderset(root, renderset or p.renderset), subset or p.subset
    chars = load_meta(rs)
    lists = [split_path(root, subset, s) for s in splits]
    ids = dict.fromkeys(i for path in lists if path.is_file() for i in read_split(path) if i in chars)
    used = [chars[i] for i in ids]
    features = [rs.feature_path(c.char_id, side) for c in used for side in ("front", "back")] if use_features else []
    files = [rs.meta_path, *lists, *(path for c in used for _, path in character_files(rs, c)), *features]
    key = (f"v{CHECK_VERSION} {rs.name} {subset} {','.join(splits)} optional {','.join(optional)}"
           f"{' features' if use_features else ''}")
    fingerprint = _fingerprint(root, files)
    remembered = _remembered(root)
    if remembered.get(f"{key} full") == fingerprint or (not full and remembered.get(f"{key} header") == fingerprint):
        return
    problems = split_problems(root, subset, chars, splits, optional)
    problems += characters_problems(rs, used, stored_size(rs, chars), decode=full,
                                    progress=progress and sys.stderr.isatty())
    problems += [f"{path}: missing feature file (use_features needs ortho_katepca_chonk)" for path in features
                 if not path.is_file()]
    if problems:
        raise DatasetProblems(problems)
    _remember(root, f"{key} {'full' if full else 'header'}", fingerprint)


def validate_characters(rs: Renderset, chars: list[CharacterIndex]) -> None:
    """Raise DatasetProblems listing every header-level problem of these characters' files (not
    remembered: for commands that read a few characters)."""
    problems = characters_problems(rs, chars, stored_size(rs, {c.char_id: c for c in chars}), decode=False)
    if problems:
        raise DatasetProblems(problems)


def _fingerprint(root: Path, files: list[Path]) -> str:
    """sha256 over every file's path (relative to root, so a copied data root keeps its passes), size and
    modification time; a missing file counts as such."""
    digest = hashlib.sha256()
    for path in files:
        try:
            st = path.stat()
            stamp = f"{st.st_size} {st.st_mtime_ns}"
        except OSError:
            stamp = "-"
        digest.update(f"{path.relative_to(root)} {stamp}\n".encode())
    return digest.hexdigest()


def _cache_files(root: Path) -> list[Path]:
    """Where passes are remembered: in the data root, else in the user's cache folder."""
    user = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nova3d"
    return [root / CACHE_NAME, user / f"check-{hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]}.json"]


def _read(path: Path) -> dict[str, str]:
    try:
        entries = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return entries if isinstance(entries, dict) else {}


def _remembered(root: Path) -> dict[str, str]:
    entries: dict[str, str] = {}
    for path in reversed(_cache_files(root)):
        entries.update(_read(path))
    return entries


def _remember(root: Path, key: str, fingerprint: str) -> None:
    """Add a pass to the first cache file that can be written; none writable: not remembered."""
    for path in _cache_files(root):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps({**_read(path), key: fingerprint}, indent=1, sort_keys=True) + "\n")
            return
        except OSError:
            continue
