"""CLIP ViT-B/32 image encoder in pure torch, loading OpenAI's ``ViT-B-32.pt``, for the CLIP metric.

The module's state-dict keys are the ``visual.*`` keys of OpenAI's CLIP (``visual.conv1.weight``,
``visual.class_embedding``, ``visual.positional_embedding``, ``visual.ln_pre.*``,
``visual.transformer.resblocks.N.{attn.in_proj_weight, ..., ln_1, mlp.c_fc, mlp.c_proj, ln_2}``,
``visual.ln_post.*``, ``visual.proj``); the text tower's keys are dropped by prefix.

OpenAI publishes the weights as a TorchScript archive. ``torch.jit.load`` would compile and load the
archive's TorchScript code, and ``torch.load(weights_only=True)`` refuses TorchScript archives, so
``read_torchscript_tensors`` reads the archive's ``data.pkl`` with an unpickler that allows only
tensor rebuilding and plain containers: every scripted class becomes an inert record of its
attributes and any other global is an error. No code from the file runs.

Preprocessing is CLIP's own (``clip.load``'s transform) done in torch: the 8-bit image the PIL
pipeline starts from, resize of the shorter side to 224 with PIL's bicubic filter (torch's
antialiased bicubic is the same filter) and 8-bit output, centre crop, CLIP's mean/std.
"""
from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from training.metrics.weights import load_checked_state, load_state

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# ViT-B/32 as published: input 224, patch 32, width 768, 12 layers, 12 heads, embedding 512
VIT_B32 = dict(input_resolution=224, patch_size=32, width=768, layers=12, heads=12, embed_dim=512)


class LayerNorm32(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype (as CLIP's own LayerNorm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


class QuickGELU(nn.Module):
    """CLIP's GELU approximation x * sigmoid(1.702 x); the published weights were trained with it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = LayerNorm32(width)
        self.mlp = nn.Sequential(OrderedDict(c_fc=nn.Linear(width, width * 4), gelu=QuickGELU(),
                                             c_proj=nn.Linear(width * 4, width)))
        self.ln_2 = LayerNorm32(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.Sequential(*(ResidualAttentionBlock(width, heads) for _ in range(layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    """CLIP's ``VisionTransformer``: patch embedding, class token, pre-norm transformer, projection."""

    def __init__(self, input_resolution: int, patch_size: int, width: int, layers: int, heads: int,
                 embed_dim: int) -> None:
        super().__init__()
        self.input_resolution = input_resolution
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width ** -0.5
        tokens = (input_resolution // patch_size) ** 2 + 1
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(tokens, width))
        self.ln_pre = LayerNorm32(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm32(width)
        self.proj = nn.Parameter(scale * torch.randn(width, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x).flatten(2).transpose(1, 2)  # (N, patches, width)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj


class CLIPImageEncoder(nn.Module):
    """CLIP image embeddings of images (N, 3, H, W) in [0, 1], preprocessing included."""

    def __init__(self, input_resolution: int = VIT_B32["input_resolution"], patch_size: int = VIT_B32["patch_size"],
                 width: int = VIT_B32["width"], layers: int = VIT_B32["layers"], heads: int = VIT_B32["heads"],
                 embed_dim: int = VIT_B32["embed_dim"]) -> None:
        super().__init__()
        self.visual = VisionTransformer(input_resolution, patch_size, width, layers, heads, embed_dim)
        self.register_buffer("mean", torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """CLIP's transform: 8-bit image, shorter side to the input size (PIL's bicubic: width pass, then
        height pass, 8-bit after each), centre crop (torchvision's rounding), CLIP's mean/std."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"CLIP: expected images (N, 3, H, W), got shape {tuple(images.shape)}")
        n_px = self.visual.input_resolution
        h, w = images.shape[-2:]
        short, long = min(h, w), max(h, w)
        size_long = int(n_px * long / short)
        size = (n_px, size_long) if h <= w else (size_long, n_px)
        x = (images.float().clamp(0, 1) * 255).round()
        # PIL resizes in two passes, width first, each rounded and clipped to 8 bits
        for step in ((h, size[1]), size):
            if tuple(x.shape[-2:]) != step:
                x = F.interpolate(x, size=step, mode="bicubic", align_corners=False, antialias=True)
                x = x.clamp(0, 255).round()
        x = x / 255
        top, left = int(round((size[0] - n_px) / 2.0)), int(round((size[1] - n_px) / 2.0))
        x = x[..., top:top + n_px, left:left + n_px]
        return (x - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Image embeddings (N, embed_dim), not normalised (as ``encode_image``)."""
        x = self.preprocess(images)
        return self.visual(x.to(self.visual.conv1.weight.dtype)).float()

    def similarity(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """CLIP similarity x 100 per image pair, (N,): cosine of the two images' embeddings."""
        if a.shape != b.shape:
            raise ValueError(f"CLIP: images of different shapes {tuple(a.shape)} and {tuple(b.shape)}")
        ea, eb = self(torch.cat([a, b])).chunk(2)
        return 100 * F.cosine_similarity(ea, eb, dim=1)

    def load_openai_state_dict(self, state: object, source: str = "state dict") -> None:
        """Load the ``visual.*`` tensors of an OpenAI CLIP state dict (other keys dropped), as float32."""
        load_checked_state(self, state, source, "CLIP ViT-B/32 weights", drop=lambda key: not key.startswith("visual."))

class _ScriptedObject:
    """An inert stand-in for a TorchScript class instance: it only keeps its pickled attributes."""

    def __setstate__(self, state: object) -> None:
        self.state = state


_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
    "ShortStorage": torch.int16, "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
}


def _rebuild_tensor(storage: torch.Tensor, offset: int, size: tuple, stride: tuple, *_: object) -> torch.Tensor:
    return torch.as_strided(storage, size, stride, offset)


_ALLOWED = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("collections", "OrderedDict"): OrderedDict,
    ("torch.jit._pickle", "restore_type_tag"): lambda value, _tag: value,
    **{("torch.jit._pickle", f"build_{kind}list"): list for kind in ("int", "double", "bool", "tensor")},
}


class _ArchiveUnpickler(pickle.Unpickler):
    """Reads a TorchScript ``data.pkl``: tensors come from the archive's ``data/<key>`` records."""

    def __init__(self, data: bytes, archive: zipfile.ZipFile, prefix: str, source: str) -> None:
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix, self.source = archive, prefix, source
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str) -> object:
        if module.startswith("__torch__"):
            return _ScriptedObject
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"{self.source}: refusing to load {module}.{name} from a TorchScript archive")

    def persistent_load(self, pid: object) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)):
            raise pickle.UnpicklingError(f"{self.source}: unexpected persistent id {pid!r:.80}")
        dtype, key, numel = pid[1], str(pid[2]), int(pid[4])
        if key not in self.storages:
            raw = bytearray(self.archive.read(f"{self.prefix}data/{key}"))
            flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            if flat.numel() < numel:
                raise pickle.UnpicklingError(f"{self.source}: storage {key} holds {flat.numel()} of {numel} elements")
            self.storages[key] = flat
        return self.storages[key]


def _flatten(value: object, prefix: str, out: dict[str, torch.Tensor]) -> None:
    """Module attributes -> dotted tensor names, as a state dict would name them."""
    if isinstance(value, _ScriptedObject):
        value = getattr(value, "state", None)
    if isinstance(value, torch.Tensor):
        out[prefix[:-1]] = value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                _flatten(item, f"{prefix}{key}.", out)


def read_torchscript_tensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Every tensor attribute of the module saved in a TorchScript archive, by dotted name, read
    without running any of the archive's code (see the module docstring)."""
    source = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            pkl = next((n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") <= 1), None)
            if pkl is None:
                raise ValueError(f"{source}: no data.pkl in the archive (not a TorchScript file)")
            prefix = pkl[: -len("data.pkl")]
            root = _ArchiveUnpickler(archive.read(pkl), archive, prefix, source).load()
    except (zipfile.BadZipFile, KeyError, EOFError, pickle.UnpicklingError, RuntimeError, OSError) as exc:
        raise ValueError(f"{source}: unreadable TorchScript archive ({exc})".replace("\n", " ")) from None
    tensors: dict[str, torch.Tensor] = {}
    _flatten(root, "", tensors)
    return tensors


def is_torchscript_archive(path: str | os.PathLike[str]) -> bool:
    """A zip whose top folder has ``code/`` and ``data.pkl`` (TorchScript), not a torch.save file."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any("/code/" in n for n in names) and any(n.endswith("data.pkl") for n in names)


def load_clip(path: str | os.PathLike[str]) -> CLIPImageEncoder:
    """CLIPImageEncoder (ViT-B/32) with the weights of OpenAI's ``ViT-B-32.pt`` (TorchScript archive)
    or of a plain state dict with the same keys; float32, frozen, in eval mode."""
    path = Path(path)
    state = read_torchscript_tensors(path) if is_torchscript_archive(path) else load_state(path, "CLIP weight file")
    model = CLIPImageEncoder()
    model.load_openai_state_dict(state, source=str(path))
    return model.requires_grad_(False).eval()
