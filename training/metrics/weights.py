"""Pretrained weight files: what the project can use, where each is looked for, and nothing downloaded.

Feature networks (AlexNet for LPIPS, the LPIPS linear heads, CLIP ViT-B/32, the FID Inception) are
never fetched implicitly. Each file is identified by its published sha256 and looked for, in order:

1. an explicit path (a file, or a folder holding the file) given by the caller,
2. the per-file environment variable ``NOVA3D_WEIGHTS_<NAME>`` (a file or a folder),
3. the folder in ``NOVA3D_WEIGHTS_DIR``,
4. the torch hub cache, ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``,
   default ``~/.cache/torch/hub/checkpoints``), where torchvision / pytorch-fid put their downloads,
5. the place the file's own package keeps it (the installed ``lpips`` package for its heads,
   ``~/.cache/clip`` for OpenAI's CLIP loader; torch-fidelity's name for the same Inception file).

A file whose sha256 differs is skipped (and reported as such). Only ``download`` touches the network,
and only ``python -m _scripts.weights --download`` calls it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import torch
from tqdm import tqdm

DIR_ENV = "NOVA3D_WEIGHTS_DIR"
GET_IT = "get it with python -m _scripts.weights --download --only {name}"


class WeightsMissing(FileNotFoundError):
    """A required weight file was not found anywhere; the message is one line."""


class WeightsError(ValueError):
    """A weight file is unusable (bad hash on download, wrong content); the message names the file."""


def _lpips_heads_place() -> list[tuple[str, Path]]:
    """The heads file inside the installed lpips package, found without importing it (it imports
    torchvision)."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return []
    return [("lpips package", Path(p) / "weights" / "v0.1" / "alex.pth") for p in spec.submodule_search_locations]


def _clip_cache_place() -> list[tuple[str, Path]]:
    return [("OpenAI CLIP cache", Path.home() / ".cache" / "clip" / "ViT-B-32.pt")]


def _torch_fidelity_place() -> list[tuple[str, Path]]:
    return [("torch-fidelity name in hub cache", hub_checkpoints() / "weights-inception-2015-12-05-6726825d.pth")]


@dataclass(frozen=True)
class WeightFile:
    """One published weight file. ``extra`` gives further (label, path) places to look."""

    name: str
    filename: str
    sha256: str
    url: str
    what: str
    extra: Callable[[], list[tuple[str, Path]]] | None = None

    @property
    def env(self) -> str:
        """The per-file environment variable, e.g. NOVA3D_WEIGHTS_LPIPS_ALEX_V0_1."""
        return "NOVA3D_WEIGHTS_" + "".join(c if c.isalnum() else "_" for c in self.name.upper())


# sha256 values: alexnet, inception_fid and clip_vit_b32 as published alongside the files (torchvision
# and pytorch-fid embed their first 8 hex digits in the file name, OpenAI CLIP the whole digest in the
# URL); lpips_alex_v0.1 is the file shipped in lpips 0.1.4, the same bytes as in its repository.
REGISTRY: dict[str, WeightFile] = {w.name: w for w in (
    WeightFile("alexnet", "alexnet-owt-7be5be79.pth",
               "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
               "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
               "torchvision AlexNet (ImageNet), the LPIPS backbone"),
    WeightFile("lpips_alex_v0.1", "lpips-alex-v0.1.pth",
               "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
               "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
               "LPIPS v0.1 linear heads for AlexNet (lpips package: weights/v0.1/alex.pth)",
               _lpips_heads_place),
    WeightFile("clip_vit_b32", "ViT-B-32.pt",
               "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
               "https://openaipublic.azureedge.net/clip/models/"
               "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
               "OpenAI CLIP ViT-B/32 (TorchScript archive), the CLIP similarity metric",
               _clip_cache_place),
    WeightFile("inception_fid", "pt_inception-2015-12-05-6726825d.pth",
               "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
               "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
               "pt_inception-2015-12-05-6726825d.pth",
               "FID Inception-v3 (TF 2015-12-05 port, pytorch-fid / torch-fidelity)",
               _torch_fidelity_place),
)}


def get(name: str) -> WeightFile:
    """The registry entry for ``name``; a one-line error for an unknown name."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown weights name {name!r} (known: {', '.join(REGISTRY)})") from None


def hub_checkpoints() -> Path:
    """The torch hub checkpoint folder, honouring TORCH_HOME / XDG_CACHE_HOME as torch.hub does."""
    return Path(torch.hub.get_dir()) / "checkpoints"


@dataclass(frozen=True)
class Place:
    """One place a file was looked for: ``path`` is None for an unset environment variable."""

    label: str
    path: Path | None
    status: str  # found | absent | unset | sha256 mismatch | unreadable

    def __str__(self) -> str:
        if self.path is None:
            return f"{self.label} ({self.status})"
        return f"{self.label} {self.path} ({self.status})"


_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_of(path: Path) -> str:
    """sha256 hex digest of a file, remembered per (path, size, mtime) so big files hash once."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def _in(path: Path, filename: str) -> Path:
    return path / filename if path.is_dir() else path


def _check(label: str, path: Path, sha256: str) -> Place:
    if not path.is_file():
        return Place(label, path, "absent")
    try:
        digest = sha256_of(path)
    except OSError:
        return Place(label, path, "unreadable")
    return Place(label, path, "found" if digest == sha256 else "sha256 mismatch")


def lookup(name: str, path: str | os.PathLike[str] | None = None) -> list[Place]:
    """Every place ``name`` is looked for, in order, with what was there."""
    w = get(name)
    places: list[Place] = []
    if path is not None:
        places.append(_check("path", _in(Path(path).expanduser(), w.filename), w.sha256))
    for env, is_dir in ((w.env, False), (DIR_ENV, True)):
        value = os.environ.get(env)
        if not value:
            places.append(Place(f"${env}", None, "unset"))
            continue
        where = Path(value).expanduser()
        places.append(_check(f"${env}", where / w.filename if is_dir else _in(where, w.filename), w.sha256))
    places.append(_check("torch hub cache", hub_checkpoints() / w.filename, w.sha256))
    for label, extra in (w.extra() if w.extra else []):
        places.append(_check(label, extra, w.sha256))
    return places


def _first_found(places: list[Place]) -> Path | None:
    return next((p.path for p in places if p.status == "found"), None)


def resolve(name: str, path: str | os.PathLike[str] | None = None) -> Path | None:
    """The first place holding the file with the right sha256, or None."""
    return _first_found(lookup(name, path))


def missing_message(name: str, places: list[Place]) -> str:
    """One line: the file, its sha256, every place looked in, and how to get it."""
    w = get(name)
    looked = ", ".join(str(p) for p in places)
    return (f"weights missing: {w.filename} (sha256 {w.sha256}); looked in: {looked}; "
            + GET_IT.format(name=name))


def require(name: str, path: str | os.PathLike[str] | None = None) -> Path:
    """Like ``resolve`` but raises WeightsMissing (one line: the file, its hash, where it was looked for)."""
    places = lookup(name, path)
    found = _first_found(places)
    if found is None:
        raise WeightsMissing(missing_message(name, places))
    return found


def load_state(path: str | os.PathLike[str], what: str, map_location: str | torch.device = "cpu") -> object:
    """``torch.load(path, weights_only=True)``; a file that cannot be read so is one ValueError line.

    torch.load reports a corrupt or foreign file with whatever its parser hits (EOFError,
    struct.error, UnpicklingError, RuntimeError...), hence the broad except.
    """
    try:
        return torch.load(Path(path), map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - see docstring
        raise ValueError(f"{path}: {load_failure(exc, what)}") from None


def load_failure(exc: Exception, what: str) -> str:
    """Why torch.load(weights_only=True) failed, in one line. A file holding Python objects is refused
    without torch's advice to load it with weights_only=False, which would run any code it holds."""
    text = str(exc)
    if "weights_only" in text:
        found = re.search(r"GLOBAL ([\w.]+)", text)
        held = f" ({found.group(1)})" if found else ""
        return (f"refused: not a plain {what}: it holds Python objects{held} besides tensors, and files are "
                f"only read as tensors, never run")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"unreadable {what} ({type(exc).__name__}: {first})"


def load_checked_state(module: torch.nn.Module, state: object, source: str, what: str,
                       drop: Callable[[str], bool] = lambda key: False, optional: Iterable[str] = ()) -> None:
    """Load a weight file's state dict into a feature network, checked key by key first.

    Keys for which ``drop`` is true (parts of the published network the module leaves out, such as a
    classifier) are removed; module keys in ``optional`` may be absent and then keep the module's
    values. Anything else missing, unexpected or of the wrong shape is one ValueError line:
    ``<source>: not <what> (missing [...], unexpected [...], wrong shape [...])``, five keys of each at
    most. Tensors are copied into the module's parameters and buffers (so fp16 files load as float32).
    """
    if not isinstance(state, dict):
        raise ValueError(f"{source}: not a state dict (found {type(state).__name__})")
    kept = {k: v for k, v in state.items() if not drop(k)}
    expected = module.state_dict()
    defaults = {k: expected[k] for k in optional if k in expected and k not in kept}
    missing = sorted(set(expected) - set(kept) - set(defaults))
    unexpected = sorted(set(kept) - set(expected))
    wrong = sorted(k for k in set(expected) & set(kept)
                   if not isinstance(kept[k], torch.Tensor) or kept[k].shape != expected[k].shape)
    if missing or unexpected or wrong:
        raise ValueError(f"{source}: not {what} (missing {missing[:5]}, unexpected {unexpected[:5]}, "
                         f"wrong shape {wrong[:5]})")
    module.load_state_dict({**defaults, **kept}, strict=True)


def describe_missing(name: str) -> str:
    """The text a metric table shows in place of a value it cannot compute."""
    w = get(name)
    return f"n/a (weights missing: {w.filename}, sha256 {w.sha256})"


def download(name: str, url_override: str | None = None, progress: bool = False) -> Path:
    """Fetch ``name`` into the torch hub cache, verifying its sha256 before it is put in place.

    Only the ``_scripts.weights`` CLI calls this, when the user passes ``--download``. ``url_override``
    replaces the public address (tests use file:// addresses). Raises WeightsError on a hash mismatch
    or a failed fetch; nothing is left behind then.
    """
    w = get(name)
    url = url_override or w.url
    dest = hub_checkpoints() / w.filename
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{w.filename}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as src:
            total = int(src.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=w.filename, disable=not progress) as bar:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
                    h.update(block)
                    bar.update(len(block))
        if h.hexdigest() != w.sha256:
            raise WeightsError(f"{url}: sha256 {h.hexdigest()} does not match the published {w.sha256} "
                               f"of {w.filename}; not saved")
        os.replace(tmp, dest)
    except OSError as exc:
        raise WeightsError(f"{url}: download of {w.filename} failed ({exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest
