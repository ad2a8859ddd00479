"""Super-resolution: preset sizes, the raw-image skip, w modulation, noise modes, the off switch."""
import pytest
import torch
import torch.nn.functional as F

from torch_utils.ops import upfirdn2d
from training.model.layers import RESAMPLE_FILTER
from training.model.superresolution import SuperResolution, SuperResolutionConfig, upsample_raw

# body and head: a 128^2 neural render super-resolved to 512^2 (EG3D's 8x hybrid widths, 256 then 128)
PRESETS = {"body": SuperResolutionConfig(input_resolution=128, img_resolution=512),
           "head": SuperResolutionConfig(input_resolution=128, img_resolution=512)}

@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """These networks are tiny: extra threads only add synchronisation."""


def tiny(**kw) -> SuperResolutionConfig:
    return SuperResolutionConfig(**{"input_resolution": 32, "img_resolution": 128, "hidden_channels": 16,
                                    "w_dim": 32, **kw})


def features(batch: int, res: int, seed: int = 0, channels: int = 32) -> torch.Tensor:
    """A feature image in [-1, 1], the decoder's range."""
    return torch.randn(batch, channels, res, res, generator=torch.Generator().manual_seed(seed)).tanh()


def latents(batch: int, seed: int, num: int = 3, dim: int = 32) -> torch.Tensor:
    return torch.randn(batch, num, dim, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("preset", ["body", "head"])
def test_preset_builds_two_blocks_of_eg3d_widths(preset):
    sr = SuperResolution(PRESETS[preset])
    assert [b.resolution for b in sr.blocks] == [256, 512]
    assert [b.conv1.weight.shape[0] for b in sr.blocks] == [256, 128]
    assert sr.num_ws == 1


def test_full_resolution_forward_at_batch_1():
    """128 -> 512 at batch 1 with the preset's resolutions and latent size but narrow blocks (the preset's
    own widths cost about 6 s per pass on 2 cores): shape, finite, a modest residual at initialisation."""
    torch.manual_seed(0)
    sr = SuperResolution(SuperResolutionConfig(input_resolution=128, img_resolution=512, hidden_channels=16))
    feat = features(1, 96)  # a 96^2 render is resized to 128 first
    out = sr(feat, torch.randn(1, 14, 512), noise_mode="const")
    assert out.shape == (1, 3, 512, 512)
    assert torch.isfinite(out).all()
    residual = out - upsample_raw(feat[:, :3], 512)
    assert 0.05 < residual.std() < 3.0


def test_residual_init_scales_the_initial_residual():
    """residual_init shrinks the toRGB weights, so an untrained module passes the raw image through. The
    image path is linear in the toRGB outputs, so the residual over the skip path alone (residual_init 0)
    scales exactly with it (same seed, same weights otherwise)."""
    feat, ws = features(2, 32), latents(2, 1)

    def output(scale: float) -> torch.Tensor:
        torch.manual_seed(0)
        return SuperResolution(tiny(residual_init=scale))(feat, ws, noise_mode="const")

    skip = output(0.0)
    full, small = output(1.0) - skip, output(0.1) - skip
    assert full.std() > 0.1
    torch.testing.assert_close(small, 0.1 * full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("render_res", [16, 32, 64])
def test_tiny_shapes_for_other_render_resolutions(render_res):
    """Renders of another size are resized to input_resolution first (antialiased when larger)."""
    torch.manual_seed(0)
    sr = SuperResolution(tiny())
    out = sr(features(2, render_res), latents(2, 1))
    assert out.shape == (2, 3, 128, 128)
    assert torch.isfinite(out).all()


def test_disabled_returns_exactly_the_upsampled_raw_image():
    sr = SuperResolution(tiny(enabled=False))
    assert sum(p.numel() for p in sr.parameters()) == 0
    for res in (32, 64, 128):
        feat = features(2, res, seed=res)
        out = sr(feat, latents(2, 0))
        expected = F.interpolate(feat[:, :3], size=(128, 128), mode="bilinear", align_corners=False)
        assert torch.equal(out, expected)


def test_output_depends_on_the_last_w_only():
    torch.manual_seed(0)
    sr = SuperResolution(tiny())
    feat, ws = features(2, 32), latents(2, 1)
    base = sr(feat, ws, noise_mode="const")
    assert torch.equal(sr(feat, ws, noise_mode="const"), base)
    earlier = ws.clone()
    earlier[:, :-1] = latents(2, 2)[:, :-1]
    assert torch.equal(sr(feat, earlier, noise_mode="const"), base)
    last = ws.clone()
    last[:, -1] = latents(2, 3)[:, -1]
    assert (sr(feat, last, noise_mode="const") - base).abs().mean() > 1e-2


def test_raw_image_skip_is_the_fir_upsampled_raw_rgb():
    """With every toRGB silenced, only the skip path is left: the raw RGB FIR-upsampled block by block."""
    torch.manual_seed(0)
    sr = SuperResolution(tiny(img_resolution=128, input_resolution=32))
    with torch.no_grad():
        for block in sr.blocks:
            block.torgb.weight.zero_()
            block.torgb.bias.zero_()
    feat = features(2, 32)
    raw = feat[:, :3]
    f = upfirdn2d.setup_filter(RESAMPLE_FILTER)
    expected = upfirdn2d.upsample2d(upfirdn2d.upsample2d(raw, f), f)
    torch.testing.assert_close(sr(feat, latents(2, 1)), expected, rtol=0, atol=1e-6)


def test_raw_rgb_alone_still_shapes_the_output():
    """Features zeroed except the raw RGB: the freshly initialised SR output stays correlated with the raw image."""
    torch.manual_seed(0)
    sr = SuperResolution(tiny())
    feat = torch.zeros(1, 32, 32, 32)
    feat[:, :3] = features(1, 32, seed=5, channels=3)
    out = sr(feat, latents(1, 1), noise_mode="none")
    reference = upsample_raw(feat[:, :3], 128)
    corr = torch.corrcoef(torch.stack([out.flatten(), reference.flatten()]))[0, 1]
    assert corr > 0.5


def test_noise_modes():
    torch.manual_seed(0)
    sr = SuperResolution(tiny())
    with torch.no_grad():
        for name, p in sr.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    feat, ws = features(1, 32), latents(1, 1)
    assert not torch.equal(sr(feat, ws, noise_mode="random"), sr(feat, ws, noise_mode="random"))
    const = sr(feat, ws, noise_mode="const")
    assert torch.equal(const, sr(feat, ws, noise_mode="const"))
    assert not torch.equal(const, sr(feat, ws, noise_mode="none"))
    with pytest.raises(ValueError, match="noise_mode"):
        sr(feat, ws, noise_mode="loud")


def test_config_rejects_a_non_power_of_two_scale():
    with pytest.raises(ValueError, match="power of two"):
        SuperResolutionConfig(input_resolution=96, img_resolution=512)
    with pytest.raises(ValueError, match="at least 3 channels"):
        SuperResolutionConfig(in_channels=2)
    with pytest.raises(ValueError, match=r"features must be \(B, 16, r, r\)"):
        SuperResolution(tiny(in_channels=16))(features(1, 32), latents(1, 0))
