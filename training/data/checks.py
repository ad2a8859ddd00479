"""Index a renderset from its meta json and find what is wrong with it, one line per problem.

Takes a data root (renders/<renderset>/ and subsets/) and a preset; gives per-character view indexes
(load_meta) and problem lines (check_dataset runs every check). Shared by the training dataset (which
raises the same messages) and ``python -m _scripts.data.check``. Every message starts with the path of
the file it is about.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from training.geometry.camera import RenderParams
from training.data.layout import DTYPE_GROUPS, PRESETS, RECON_VIEWS, Renderset, SPLITS, read_split, split_path


class DatasetError(ValueError):
    """A dataset problem; the message is one line that names the file."""


@dataclass
class CharacterIndex:
    """The views one character has, per image dtype, with their render params (from the meta json)."""

    char_id: str
    views: dict[str, dict[str, RenderParams]] = field(default_factory=lambda: defaultdict(dict))

    def random_views(self) -> list[str]:
        return sorted(self.views.get("rgb", {}))


def load_meta(rs: Renderset) -> dict[str, CharacterIndex]:
    """Parse ``<renderset>_meta.json`` into per-character indexes (keys of other rendersets ignored)."""
    path = rs.meta_path
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path}: meta json not found (the data root must hold renders/<renderset>/ and subsets/)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable meta json ({exc})") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{path}: meta json must map keys to entries, found {type(raw).__name__}")
    chars: dict[str, CharacterIndex] = {}
    for key, entry in raw.items():
        parts = key.split("/")
        if len(parts) != 5 or parts[0] != rs.name or parts[1] not in DTYPE_GROUPS:
            continue
        _, dtype, _, char_id, view = parts
        try:
            params = RenderParams.from_meta(entry["render_params"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{path}: entry '{key}' has bad render_params ({exc})") from None
        chars.setdefault(char_id, CharacterIndex(char_id)).views[dtype][view] = params
    return chars


def read_split_ids(root: Path, subset: str, split: str) -> list[str]:
    path = split_path(root, subset, split)
    try:
        return read_split(path)
    except FileNotFoundError as exc:
        raise DatasetError(str(exc)) from None


def image_problem(path: Path, size: int | None, decode: bool = True) -> str | None:
    """Why the PNG at path is unusable (missing, unreadable, truncated, wrong size), or None."""
    if not path.is_file():
        return f"{path}: missing file"
    try:
        with Image.open(path) as im:
            if size is not None and im.size != (size, size):
                return f"{path}: wrong size {im.size[0]}x{im.size[1]}, expected {size}x{size}"
            if decode:
                im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"{path}: unreadable or truncated PNG ({exc})"
    return None


def character_files(rs: Renderset, char: CharacterIndex) -> Iterator[Path]:
    """Every file the meta json promises for one character (image, mask and xyza companions)."""
    for dtype, views in char.views.items():
        mask_dtype, xyza_dtype = DTYPE_GROUPS[dtype]
        for view in views:
            for d in (dtype, mask_dtype, xyza_dtype):
                if d is not None:
                    yield rs.path(d, char.char_id, view)


def character_problems(rs: Renderset, char: CharacterIndex, size: int | None, decode: bool = True) -> list[str]:
    problems = []
    ortho = char.views.get("ortho", {})
    for view in RECON_VIEWS:
        if view not in ortho:
            problems.append(f"{rs.meta_path}: character {char.char_id} has no meta entry for ortho view '{view}'")
    if not char.random_views():
        problems.append(f"{rs.meta_path}: character {char.char_id} has no random (rgb) views")
    for path in character_files(rs, char):
        problem = image_problem(path, size, decode)
        if problem:
            problems.append(problem)
    return problems


def files_without_meta(rs: Renderset, chars: dict[str, CharacterIndex]) -> list[str]:
    """PNG files under the image dtypes (and their companions) that no meta entry describes."""
    expected = {p for c in chars.values() for p in character_files(rs, c)}
    problems = []
    for dtype, companions in DTYPE_GROUPS.items():
        for d in (dtype, *companions):
            if d is None or not (rs.dir / d).is_dir():
                continue
            for path in sorted((rs.dir / d).glob("*/*/*.png")):
                if path not in expected:
                    problems.append(f"{path}: file without a meta entry")
    return problems


def stored_size(rs: Renderset, chars: dict[str, CharacterIndex]) -> int | None:
    """The resolution of the first front ortho image: all images of a renderset must share it."""
    for char in chars.values():
        path = rs.path("ortho", char.char_id, "front")
        if path.is_file():
            try:
                with Image.open(path) as im:
                    return im.size[0]
            except (UnidentifiedImageError, OSError):
                continue
    return None


def split_problems(root: Path, subset: str, chars: dict[str, CharacterIndex]) -> list[str]:
    problems = []
    for split in SPLITS:
        path = split_path(root, subset, split)
        if not path.is_file():
            problems.append(f"{path}: split list not found")
            continue
        for char_id in read_split(path):
            if char_id not in chars:
                problems.append(f"{path}: id {char_id} is not in the meta json / not on disk")
    return problems


def check_dataset(root: Path, preset: str, renderset: str = "", subset: str = "", decode: bool = True,
                  progress: bool = True) -> tuple[list[str], str]:
    """All problems of a dataset (renderset and subset default to the preset's; decode: read every
    PNG, not only its header) and a summary line."""
    p = PRESETS[preset]
    rs = Renderset(root, renderset or p.renderset)
    try:
        chars = load_meta(rs)
    except DatasetError as exc:
        return [str(exc)], ""
    size = stored_size(rs, chars)
    problems = split_problems(root, subset or p.subset, chars)
    for char in tqdm(chars.values(), desc="checking", unit="char", disable=not progress, leave=False):
        problems += character_problems(rs, char, size, decode)
    problems += files_without_meta(rs, chars)
    n_views = sum(len(v) for c in chars.values() for v in c.views.values())
    summary = f"{rs.dir}: OK, {len(chars)} characters, {n_views} views, {size}x{size} px"
    return problems, summary
