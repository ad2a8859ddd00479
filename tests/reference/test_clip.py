"""Our CLIP ViT-B/32 image tower against open_clip's on the same random weights.

open_clip.create_model('ViT-B-32', pretrained=None, force_quick_gelu=True) is OpenAI's ViT-B/32
architecture with random init (seeded): QuickGELU is what OpenAI's weights were trained with and what
open_clip itself switches on when it loads them (plain 'ViT-B-32' uses nn.GELU). Its state dict has
OpenAI's key names, so it is saved as a plain state dict (text tower included) and ours loads it
through ``load_clip``, which keeps the ``visual.*`` keys. The TorchScript path (OpenAI publishes
ViT-B-32.pt as a TorchScript archive) is exercised with ``torch.jit.script`` of the same model.

Compared: (1) the network on the same normalised 224x224 input, (2) the preprocessing on the same
8-bit images (ours in torch vs open_clip's PIL transform: bicubic resize of the shorter side to 224,
centre crop, CLIP mean/std), (3) end to end: our embeddings of the images vs open_clip's
encode_image of its own preprocessing.

Tolerances (float32): embeddings within 1e-5 x their largest magnitude (12 transformer layers of
float32 rounding; both use nn.MultiheadAttention). Preprocessing: exact where no resize happens
(224x224); where PIL resizes, its fixed-point bicubic rounds a few 8-bit values differently from
torch's float bicubic (measured: ~0.02-0.03% of values off by one level at 180x250 and 300x400, ~1%
at 64x64 upscaled 3.5x, and a handful by two levels), so values may differ by at most two 8-bit levels
(2/255/std, 0.030 after CLIP's normalisation) on at most 0.1% of values (2% for 64x64). The
end-to-end embeddings are within 1e-3 x their largest magnitude, to allow for those pixels.
"""
from __future__ import annotations

import warnings

import pytest

WHY = "not installed: reference check only (make test-reference)"
pytest.importorskip("torchvision", reason=f"torchvision {WHY}")
open_clip = pytest.importorskip("open_clip", reason=f"open_clip {WHY}")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from training.metrics.feature_nets.clip_vit import (CLIP_STD, CLIPImageEncoder, is_torchscript_archive,  # noqa: E402
                                                    load_clip)

EMBED_RTOL = 1e-5
END_TO_END_RTOL = 1e-3
ONE_LEVEL = 1 / 255 / min(CLIP_STD)  # one 8-bit level after CLIP's normalisation
MAX_LEVELS = 2


@pytest.fixture(scope="module")
def real_clip():
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None,
                                                                 force_quick_gelu=True)
    return model.eval(), preprocess


@pytest.fixture(scope="module")
def state_file(real_clip, tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "open_clip-ViT-B-32-random.pt"
    torch.save(real_clip[0].state_dict(), path)
    return path


def _uint8_images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.rand((n, 3, 7, 9), generator=g)
    img = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    img = 0.8 * img + 0.2 * torch.rand((n, 3, h, w), generator=g)
    return (img * 255).round().clamp(0, 255).to(torch.uint8)


def _embedding_check(measured, what, got, want, rtol):
    assert got.shape == want.shape
    scale = want.abs().max().item()
    assert scale > 0 and want.std().item() > 0, "embeddings constant: the random weights test nothing"
    measured(what, (got - want).abs().max().item(), rtol * scale, f"(max |embedding| {scale:.3g})")


def test_visual_keys_match(real_clip):
    theirs = {k for k in real_clip[0].state_dict() if k.startswith("visual.")}
    ours = set(CLIPImageEncoder().state_dict())
    assert sorted(ours - theirs) == [] and sorted(theirs - ours) == [], (sorted(ours - theirs), sorted(theirs - ours))


def test_embeddings_equal_open_clip(real_clip, state_file, measured):
    model, _ = real_clip
    ours = load_clip(state_file)
    g = torch.Generator().manual_seed(1)
    x = torch.randn((2, 3, 224, 224), generator=g)
    with torch.no_grad():
        got = ours.visual(x)
        want = model.encode_image(x)
    _embedding_check(measured, "CLIP image embeddings (same normalised input) vs open_clip", got, want, EMBED_RTOL)


@pytest.mark.parametrize("size, max_share", [((224, 224), 0.0), ((180, 250), 1e-3), ((64, 64), 2e-2)])
def test_preprocessing_equals_open_clip(real_clip, measured, size, max_share):
    _, preprocess = real_clip
    ours = CLIPImageEncoder()  # weights irrelevant: preprocessing only
    u = _uint8_images(2, *size, seed=2)
    want = torch.stack([preprocess(Image.fromarray(img.permute(1, 2, 0).numpy())) for img in u])
    got = ours.preprocess(u.float() / 255)
    assert got.shape == want.shape == (2, 3, 224, 224)
    diff = (got - want).abs()
    share = (diff > 1e-6).float().mean().item()
    measured(f"CLIP preprocessing {size[0]}x{size[1]} vs open_clip (PIL)", diff.max().item(),
             MAX_LEVELS * ONE_LEVEL + 1e-6, f"(= {diff.max().item() / ONE_LEVEL:.2f} 8-bit levels; "
             f"{share:.3%} of values differ)")
    assert share <= max_share, f"{share:.3%} of preprocessed values differ from open_clip's (> {max_share:.1%})"


def test_end_to_end_embeddings_equal_open_clip(real_clip, state_file, measured):
    model, preprocess = real_clip
    ours = load_clip(state_file)
    u = _uint8_images(2, 180, 250, seed=3)
    with torch.no_grad():
        got = ours(u.float() / 255)
        want = model.encode_image(torch.stack([preprocess(Image.fromarray(img.permute(1, 2, 0).numpy()))
                                               for img in u]))
    _embedding_check(measured, "CLIP embeddings end to end 180x250 (each its own preprocessing) vs open_clip",
                     got, want, END_TO_END_RTOL)


def test_torchscript_archive_loads_same_weights(real_clip, state_file, tmp_path, measured):
    """OpenAI's file format: a TorchScript archive of the whole model, read by our restricted reader."""
    model, _ = real_clip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            scripted = torch.jit.script(model)
        except Exception as exc:  # noqa: BLE001 - report whatever the scripting of open_clip hits
            pytest.skip(f"torch.jit.script(open_clip ViT-B-32) fails here: {type(exc).__name__}: {exc}"[:200])
        path = tmp_path / "ViT-B-32-scripted.pt"
        torch.jit.save(scripted, path)
    assert is_torchscript_archive(path)
    from_archive, from_state = load_clip(path), load_clip(state_file)
    diffs = [(a - b).abs().max().item() for a, b in zip(from_archive.state_dict().values(),
                                                         from_state.state_dict().values())]
    measured("CLIP weights read from a TorchScript archive vs the state dict", max(diffs), 0.0)
