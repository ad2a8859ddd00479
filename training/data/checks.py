"""Index a renderset from its meta json and find what is wrong with it, one line per problem.

Takes a data root (renders/<renderset>/ and subsets/) and a preset; gives per-character view indexes
(load_meta) and problem lines (check_dataset runs every check). Shared by the training dataset (which
raises the same messages) and ``python -m _scripts.data.check``. Every message starts with the path of
the file it is about.
"""
from __future__ import annotations

import json
import struct
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from training.geometry.camera import RenderParams
from training.data.layout import DTYPE_GROUPS, PRESETS, RECON_VIEWS, Renderset, SPLITS, read_split, split_path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OTHER_FORMATS = {b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"BM": "BMP", b"RIFF": "WebP", b"II*\x00": "TIFF",
                 b"MM\x00*": "TIFF"}
COLOUR_TYPES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale + alpha", 6: "RGBA"}
RGBA = 6
MASK_DTYPES = {mask for mask, _ in DTYPE_GROUPS.values() if mask}  # read as greyscale: any colour type
NONEMPTY_SPLITS = ("train",)  # an empty val split is allowed: the sample grids then show train characters


class DatasetError(ValueError):
    """A dataset problem; the message is one line that names the file."""


class DatasetProblems(DatasetError):
    """Every problem found in a dataset, one line each (problems); the message is the first and a count."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


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


def header_problem(path: Path, size: int | None, rgba: bool) -> str | None:
    """Why the file at path is no usable PNG, from its first 33 bytes: missing, another format under a
    .png name, no IHDR, a size other than size x size, or (rgba) a colour type without alpha, which the
    reader would fill with opaque alpha (the background would become part of the character)."""
    try:
        with open(path, "rb") as f:
            head = f.read(33)
    except FileNotFoundError:
        return f"{path}: missing file"
    except OSError as exc:
        return f"{path}: unreadable ({exc.strerror})"
    if not head.startswith(PNG_SIGNATURE):
        kind = next((name for magic, name in OTHER_FORMATS.items() if head.startswith(magic)), None)
        return f"{path}: not a PNG ({kind} data under a .png name)" if kind else f"{path}: not a PNG (no PNG signature)"
    if len(head) < 33 or head[12:16] != b"IHDR":
        return f"{path}: unreadable or truncated PNG (no IHDR header)"
    width, height, _, colour = struct.unpack(">IIBB", head[16:26])
    if size is not None and (width, height) != (size, size):
        return f"{path}: wrong size {width}x{height}, expected {size}x{size}"
    if rgba and colour != RGBA:
        return f"{path}: {COLOUR_TYPES.get(colour, f'colour type {colour}')} PNG, expected RGBA (colour with alpha)"
    return None


def image_problem(path: Path, size: int | None, rgba: bool = True, decode: bool = True) -> str | None:
    """Why the PNG at path is unusable (header_problem, or with decode its pixel data is unreadable or
    truncated), or None."""
    problem = header_problem(path, size, rgba)
    if problem or not decode:
        return problem
    try:
        with Image.open(path) as im:
            im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return f"{path}: unreadable or truncated PNG ({exc})"
    return None


def character_files(rs: Renderset, char: CharacterIndex) -> Iterator[tuple[str, Path]]:
    """(dtype, path) of every file the meta json promises for one character (image, mask and xyza companions)."""
    for dtype, views in char.views.items():
        mask_dtype, xyza_dtype = DTYPE_GROUPS[dtype]
        for view in views:
            for d in (dtype, mask_dtype, xyza_dtype):
                if d is not None:
                    yield d, rs.path(d, char.char_id, view)


def character_problems(rs: Renderset, char: CharacterIndex, size: int | None, decode: bool = True) -> list[str]:
    problems = []
    ortho = char.views.get("ortho", {})
    for view in RECON_VIEWS:
        if view not in ortho:
            problems.append(f"{rs.meta_path}: character {char.char_id} has no meta entry for ortho view '{view}'")
    if not char.random_views():
        problems.append(f"{rs.meta_path}: character {char.char_id} has no random (rgb) views")
    for dtype, path in character_files(rs, char):
        problem = image_problem(path, size, dtype not in MASK_DTYPES, decode)
        if problem:
            problems.append(problem)
    return problems


def characters_problems(rs: Renderset, chars: Iterable[CharacterIndex], size: int | None, decode: bool = True,
                        progress: bool = False) -> list[str]:
    """character_problems of every character, with a progress bar when asked."""
    chars = list(chars)
    problems = []
    for char in tqdm(chars, desc="checking", unit="char", disable=not progress, leave=False):
        problems += character_problems(rs, char, size, decode)
    return problems


def files_without_meta(rs: Renderset, chars: dict[str, CharacterIndex]) -> list[str]:
    """PNG files under the image dtypes (and their companions) that no meta entry describes."""
    expected = {p for c in chars.values() for _, p in character_files(rs, c)}
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


def split_problems(root: Path, subset: str, chars: dict[str, CharacterIndex], splits: Iterable[str] = SPLITS,
                   optional: Iterable[str] = ()) -> list[str]:
    """Split lists that are missing (unless optional), empty (train) or name ids the meta json does not have."""
    problems = []
    for split in splits:
        path = split_path(root, subset, split)
        if not path.is_file():
            if split not in optional:
                problems.append(f"{path}: split list not found")
            continue
        ids = read_split(path)
        if not ids and split in NONEMPTY_SPLITS:
            problems.append(f"{path}: split list is empty (training needs at least one character)")
        for char_id in ids:
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
    problems += characters_problems(rs, chars.values(), size, decode, progress)
    problems += files_without_meta(rs, chars)
    n_views = sum(len(v) for c in chars.values() for v in c.views.values())
    lists = {s: split_path(root, subset or p.subset, s) for s in SPLITS if s not in NONEMPTY_SPLITS}
    empty = [s for s, path in lists.items() if path.is_file() and not read_split(path)]
    note = f"; empty split lists: {', '.join(empty)}" if empty else ""  # allowed: training needs only train
    summary = f"{rs.dir}: OK, {len(chars)} characters, {n_views} views, {size}x{size} px{note}"
    return problems, summary
