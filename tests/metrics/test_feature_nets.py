"""CLIP ViT-B/32 and FID Inception modules with RANDOM weights (no published weights here), and FID.

The expected key/shape tables below are written from the published architectures (OpenAI CLIP's
VisionTransformer for ViT-B/32; torchvision's Inception3 with num_classes=1008 and no aux head,
which pytorch-fid's weight file fills), not from our modules.
"""
from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import linalg

from training.metrics.feature_nets.clip_vit import (CLIP_MEAN, CLIP_STD, CLIPImageEncoder, is_torchscript_archive, load_clip,
                                            read_torchscript_tensors)
from training.metrics.feature_nets.inception import FIDInceptionV3, _avg_pool
from training.metrics.fid import feature_stats, fid_from_features, frechet_distance


def clip_b32_keys() -> dict[str, tuple[int, ...]]:
    w, layers, patch, res, embed = 768, 12, 32, 224, 512
    keys = {"visual.class_embedding": (w,), "visual.positional_embedding": ((res // patch) ** 2 + 1, w),
            "visual.proj": (w, embed), "visual.conv1.weight": (w, 3, patch, patch)}
    for ln in ("ln_pre", "ln_post"):
        keys.update({f"visual.{ln}.weight": (w,), f"visual.{ln}.bias": (w,)})
    for i in range(layers):
        p = f"visual.transformer.resblocks.{i}."
        keys.update({p + "attn.in_proj_weight": (3 * w, w), p + "attn.in_proj_bias": (3 * w,),
                     p + "attn.out_proj.weight": (w, w), p + "attn.out_proj.bias": (w,),
                     p + "ln_1.weight": (w,), p + "ln_1.bias": (w,), p + "ln_2.weight": (w,), p + "ln_2.bias": (w,),
                     p + "mlp.c_fc.weight": (4 * w, w), p + "mlp.c_fc.bias": (4 * w,),
                     p + "mlp.c_proj.weight": (w, 4 * w), p + "mlp.c_proj.bias": (w,)})
    return keys


def inception_fid_keys() -> dict[str, tuple[int, ...]]:
    """pt_inception-2015-12-05's keys: every BasicConv2d (conv + BatchNorm) and the 1008-way fc."""
    convs = [("Conv2d_1a_3x3", 3, 32, (3, 3)), ("Conv2d_2a_3x3", 32, 32, (3, 3)), ("Conv2d_2b_3x3", 32, 64, (3, 3)),
             ("Conv2d_3b_1x1", 64, 80, (1, 1)), ("Conv2d_4a_3x3", 80, 192, (3, 3))]
    for name, cin, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        convs += [(f"{name}.branch1x1", cin, 64, (1, 1)), (f"{name}.branch5x5_1", cin, 48, (1, 1)),
                  (f"{name}.branch5x5_2", 48, 64, (5, 5)), (f"{name}.branch3x3dbl_1", cin, 64, (1, 1)),
                  (f"{name}.branch3x3dbl_2", 64, 96, (3, 3)), (f"{name}.branch3x3dbl_3", 96, 96, (3, 3)),
                  (f"{name}.branch_pool", cin, pool, (1, 1))]
    convs += [("Mixed_6a.branch3x3", 288, 384, (3, 3)), ("Mixed_6a.branch3x3dbl_1", 288, 64, (1, 1)),
              ("Mixed_6a.branch3x3dbl_2", 64, 96, (3, 3)), ("Mixed_6a.branch3x3dbl_3", 96, 96, (3, 3))]
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        convs += [(f"{name}.branch1x1", 768, 192, (1, 1)), (f"{name}.branch7x7_1", 768, c7, (1, 1)),
                  (f"{name}.branch7x7_2", c7, c7, (1, 7)), (f"{name}.branch7x7_3", c7, 192, (7, 1)),
                  (f"{name}.branch7x7dbl_1", 768, c7, (1, 1)), (f"{name}.branch7x7dbl_2", c7, c7, (7, 1)),
                  (f"{name}.branch7x7dbl_3", c7, c7, (1, 7)), (f"{name}.branch7x7dbl_4", c7, c7, (7, 1)),
                  (f"{name}.branch7x7dbl_5", c7, 192, (1, 7)), (f"{name}.branch_pool", 768, 192, (1, 1))]
    convs += [("Mixed_7a.branch3x3_1", 768, 192, (1, 1)), ("Mixed_7a.branch3x3_2", 192, 320, (3, 3)),
              ("Mixed_7a.branch7x7x3_1", 768, 192, (1, 1)), ("Mixed_7a.branch7x7x3_2", 192, 192, (1, 7)),
              ("Mixed_7a.branch7x7x3_3", 192, 192, (7, 1)), ("Mixed_7a.branch7x7x3_4", 192, 192, (3, 3))]
    for name, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        convs += [(f"{name}.branch1x1", cin, 320, (1, 1)), (f"{name}.branch3x3_1", cin, 384, (1, 1)),
                  (f"{name}.branch3x3_2a", 384, 384, (1, 3)), (f"{name}.branch3x3_2b", 384, 384, (3, 1)),
                  (f"{name}.branch3x3dbl_1", cin, 448, (1, 1)), (f"{name}.branch3x3dbl_2", 448, 384, (3, 3)),
                  (f"{name}.branch3x3dbl_3a", 384, 384, (1, 3)), (f"{name}.branch3x3dbl_3b", 384, 384, (3, 1)),
                  (f"{name}.branch_pool", cin, 192, (1, 1))]
    keys = {"fc.weight": (1008, 2048), "fc.bias": (1008,)}
    for name, cin, cout, k in convs:
        keys[f"{name}.conv.weight"] = (cout, cin, *k)
        for p in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{name}.bn.{p}"] = (cout,)
        keys[f"{name}.bn.num_batches_tracked"] = ()
    return keys


@pytest.fixture(scope="module")
def clip_b32() -> CLIPImageEncoder:
    torch.manual_seed(0)
    return CLIPImageEncoder().eval()


@pytest.fixture(scope="module")
def inception() -> FIDInceptionV3:
    torch.manual_seed(0)
    return FIDInceptionV3().eval()


def test_clip_keys_and_shapes_are_openais(clip_b32):
    ours = {k: tuple(v.shape) for k, v in clip_b32.state_dict().items()}
    assert ours == clip_b32_keys()
    assert sum(v.numel() for v in clip_b32.state_dict().values()) == 87_849_216  # ViT-B/32 image tower


def test_clip_forward_shapes_and_self_similarity(clip_b32):
    x = torch.rand(1, 3, 40, 56)  # not square: resize of the short side, then the centre crop
    with torch.no_grad():
        emb = clip_b32(x)
        sim = clip_b32.similarity(torch.cat([x, x.flip(-1)]), torch.cat([x, x]))
    assert emb.shape == (1, 512) and emb.dtype == torch.float32
    assert sim.shape == (2,) and sim[0].item() == pytest.approx(100.0, abs=1e-3) and sim[1].item() < 100.0


def pil_clip_preprocess(arr: np.ndarray, n_px: int = 224) -> np.ndarray:
    """CLIP's transform written with PIL: Resize(n_px, BICUBIC) (torchvision's size rule), CenterCrop."""
    im = Image.fromarray(arr)
    w, h = im.size
    long = int(n_px * max(w, h) / min(w, h))
    im = im.resize((n_px, long) if w <= h else (long, n_px), Image.BICUBIC)
    top, left = int(round((im.size[1] - n_px) / 2.0)), int(round((im.size[0] - n_px) / 2.0))
    a = np.asarray(im, dtype=np.float32)[top:top + n_px, left:left + n_px] / 255
    return ((a - np.float32(CLIP_MEAN)) / np.float32(CLIP_STD)).transpose(2, 0, 1)


@pytest.mark.parametrize("shape", [(64, 64), (300, 260), (97, 301), (224, 224)])
def test_clip_preprocessing_matches_pil(shape):
    small = CLIPImageEncoder(width=32, layers=1, heads=4, embed_dim=16)
    arr = np.random.default_rng(sum(shape)).integers(0, 256, size=(*shape, 3), dtype=np.uint8)  # worst case: noise
    ours = small.preprocess(torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255)[0].numpy()
    levels = np.abs(ours - pil_clip_preprocess(arr)) * np.float32(CLIP_STD)[:, None, None] * 255
    assert ours.shape == (3, 224, 224)
    assert levels.max() <= 2.01  # PIL's fixed-point filter taps: at most 2 of 255 levels apart
    assert (levels > 0.5).mean() < 0.02


def traced_clip_archive(path, width: int = 32) -> tuple[dict[str, torch.Tensor], CLIPImageEncoder]:
    """A TorchScript archive (fp16, like OpenAI's) of a small CLIP-like model with a text part."""
    small = CLIPImageEncoder(input_resolution=64, patch_size=16, width=width, layers=2, heads=4, embed_dim=16).eval()

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.visual = small.visual
            self.token_embedding = torch.nn.Embedding(10, 8)

        def forward(self, x):
            return self.visual(x)

    wrapper = Wrapper().eval()
    torch.jit.trace(wrapper, torch.randn(1, 3, 64, 64), check_trace=False).half().save(str(path))
    return {k: v.half() for k, v in wrapper.state_dict().items()}, small


def test_torchscript_archive_read_without_running_code(tmp_path):
    path = tmp_path / "clip_small.pt"
    expected, small = traced_clip_archive(path)
    assert is_torchscript_archive(path)
    tensors = read_torchscript_tensors(path)
    assert set(tensors) == set(expected)
    assert all(tensors[k].dtype == torch.float16 and torch.equal(tensors[k], v) for k, v in expected.items())
    fresh = CLIPImageEncoder(input_resolution=64, patch_size=16, width=32, layers=2, heads=4, embed_dim=16)
    fresh.load_openai_state_dict(tensors, source=str(path))  # text keys dropped, fp16 -> fp32
    loaded = fresh.state_dict()
    assert all(v.dtype == torch.float32 and torch.equal(v, expected[k].float()) for k, v in loaded.items())
    assert set(expected) - set(loaded) == {"token_embedding.weight"}
    with pytest.raises(ValueError, match="not CLIP ViT-B/32 weights"):
        load_clip(path)  # a TorchScript file of another size: one-line error


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


def test_torchscript_reader_refuses_other_globals(tmp_path):
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"visual": _Evil()}, protocol=2))
        z.writestr("evil/code/__torch__.py", "")
    with pytest.raises(ValueError, match="refusing to load"):
        read_torchscript_tensors(path)


def test_inception_keys_and_shapes_are_pytorch_fids(inception):
    ours = {k: tuple(v.shape) for k, v in inception.state_dict().items()}
    published = inception_fid_keys()
    assert set(published) - set(ours) == {"fc.weight", "fc.bias"}  # the classifier is dropped by name
    assert ours == {k: v for k, v in published.items() if not k.startswith("fc.")}


def test_inception_loads_the_file_layout_with_or_without_counters(inception):
    state = {k: torch.randn(v) if v else torch.tensor(0) for k, v in inception_fid_keys().items()}
    net = FIDInceptionV3()
    net.load_fid_state_dict(state)
    assert torch.equal(net.Mixed_7c.branch_pool.conv.weight, state["Mixed_7c.branch_pool.conv.weight"])
    without = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    net.load_fid_state_dict(without)
    with pytest.raises(ValueError, match="not the FID Inception weights"):
        net.load_fid_state_dict({**state, "AuxLogits.fc.weight": torch.zeros(1)})


def test_inception_forward_and_preprocessing(inception):
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        assert inception(x).shape == (1, 2048)
    # pytorch-fid's input: bilinear (half-pixel centres, no antialiasing) to 299, then 2x - 1
    img = np.random.default_rng(0).random((1, 3, 7, 5)).astype(np.float32)
    ref = 2 * bilinear_numpy(img, 299, 299) - 1
    assert np.allclose(FIDInceptionV3.preprocess(torch.from_numpy(img)).numpy(), ref, atol=1e-5)


def bilinear_numpy(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    def taps(n_in: int, n_out: int):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, None)
        lo = np.minimum(np.floor(src).astype(int), n_in - 1)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo
    (y0, y1, wy), (x0, x1, wx) = taps(img.shape[-2], out_h), taps(img.shape[-1], out_w)
    rows = img[..., y0, :] * (1 - wy)[:, None] + img[..., y1, :] * wy[:, None]
    return rows[..., x0] * (1 - wx) + rows[..., x1] * wx


def test_fid_blocks_pool_like_tensorflow():
    ones = torch.ones(1, 1, 4, 4)
    assert torch.equal(_avg_pool(ones), ones)  # the padding is not counted (a zero-padded average would be 4/9 at corners)


def test_fid_of_identical_sets_is_zero():
    feats = torch.randn(300, 16, generator=torch.Generator().manual_seed(0))
    assert abs(fid_from_features(feats, feats)) < 1e-6


def direct_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real))


def test_fid_equals_the_direct_formula():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 12))
    b = rng.normal(0.3, 1.5, size=(350, 12)) @ rng.normal(size=(12, 12)) * 0.3
    assert fid_from_features(a, b) == pytest.approx(direct_fid(a, b), rel=1e-8)
    assert fid_from_features(torch.from_numpy(a).float(), torch.from_numpy(b).float()) == pytest.approx(
        direct_fid(a, b), rel=1e-4)


def test_fid_with_fewer_images_than_dimensions_is_finite():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 64)), rng.normal(1.0, 1.0, size=(7, 64))
    mu1, s1 = feature_stats(a)
    mu2, s2 = feature_stats(b)
    value = frechet_distance(mu1, s1, mu2, s2)
    eig = np.linalg.eigvals(s1 @ s2)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(eig.real, 0, None)).sum()
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="N >= 2"):
        fid_from_features(a[:1], b)
