"""Front/back fusion (all modes) and the decoder MLP.

Direction convention: rays travel away from their camera, so a point seen from the front camera
(on +z, looking at -z) has a ray direction with z < 0, and seen from the back z > 0.
"""
import pytest
import torch

from training.data.layout import PRESETS
from training.model.decoder import Decoder, DecoderConfig
from training.model.fusion import FusionConfig, build_fusion, frequency_encoding
from training.model.volumetric_rendering import RenderConfig, VolumeRenderer

B, N, C = 2, 64, 16


def features(seed: int) -> torch.Tensor:
    return torch.randn(B, N, 3, C, generator=torch.Generator().manual_seed(seed))


def facing(sign: float, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Unit directions (B, n, 3) within about 30 degrees of (0, 0, sign)."""
    d = torch.randn(B, n, 3, generator=generator) * 0.3
    d[..., 2] = sign
    return torch.nn.functional.normalize(d, dim=-1)


def test_attention_output_depends_on_the_view_direction():
    torch.manual_seed(0)
    fusion = build_fusion(FusionConfig(mode="attention"))
    front, back, toward_back = features(1), features(2), facing(-1.0, N)
    seen_from_front = fusion(front, back, toward_back)
    seen_from_back = fusion(front, back, -toward_back)
    assert seen_from_front.features.shape == (B, N, 32)
    assert seen_from_front.attention.shape == (B, N, 8, 2)
    torch.testing.assert_close(seen_from_front.attention.sum(-1), torch.ones(B, N, 8))
    assert (seen_from_front.features - seen_from_back.features).abs().max() > 1e-3
    assert (seen_from_front.attention - seen_from_back.attention).abs().max() > 1e-3


@pytest.mark.parametrize("prior", [0.0, 1.5])
def test_attention_equals_a_softmax_over_the_two_view_tokens(prior):
    """The module computes the two-key attention through the score and value differences; here it is
    written out the textbook way (keys and values of both tokens, softmax over them) in float64."""
    torch.manual_seed(0)
    fusion = build_fusion(FusionConfig(mode="attention", direction_prior=prior)).double()
    with torch.no_grad():
        for p in fusion.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # non-zero biases and gains: they must cancel or count as they should
    front, back, directions = features(1).double(), features(2).double(), torch.randn(B, N, 3).double()
    heads, d = 8, 4
    ft, bt = fusion.tokens(front), fusion.tokens(back)
    views = torch.stack([ft, bt], -2) + fusion.view_embedding  # (B, N, 2, dim)
    q = fusion.to_q(fusion.direction(frequency_encoding(directions, 4)) + ft + bt).view(B, N, 1, heads, d)
    k, v = fusion.to_k(views).view(B, N, 2, heads, d), fusion.to_v(views).view(B, N, 2, heads, d)
    scores = (q * k).sum(-1) / d ** 0.5  # (B, N, 2, H)
    if prior:
        facing_front = -directions[..., 2:3] / directions.norm(dim=-1, keepdim=True)
        scores = scores + torch.stack([facing_front, -facing_front], -2) * fusion.prior_gain
    weights = scores.softmax(-2)
    expected = fusion.out((weights[..., None] * v).sum(-3).flatten(-2))
    got = fusion(front, back, directions)
    torch.testing.assert_close(got.features, expected)
    torch.testing.assert_close(got.attention, weights.transpose(-1, -2))


def test_attention_learns_to_weight_the_view_the_point_is_seen_from(single_thread):
    """Toy target: a point seen from the front must reproduce (a fixed linear map of) its front
    features, seen from the back its back features. Trained on fresh random features every step,
    so only the direction can tell which token to take; checked on held-out features and rays."""
    torch.manual_seed(0)
    cfg = FusionConfig(mode="attention")
    fusion = build_fusion(cfg)
    readout = torch.randn(3 * C, cfg.out_dim) / (3 * C) ** 0.5
    from_front = torch.arange(N) < N // 2

    def batch():
        front, back = torch.randn(B, N, 3, C), torch.randn(B, N, 3, C)
        directions = torch.cat([facing(-1.0, N // 2), facing(1.0, N - N // 2)], 1)
        target = torch.where(from_front[:, None], front.flatten(-2) @ readout, back.flatten(-2) @ readout)
        return front, back, directions, target

    optimizer = torch.optim.Adam(fusion.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        front, back, directions, target = batch()
        loss = (fusion(front, back, directions).features - target).square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 20

    front, back, directions, _ = batch()
    with torch.no_grad():
        front_weight = fusion(front, back, directions).attention[..., 0].mean(-1)  # mean over heads
    assert front_weight[:, from_front].mean() > 0.9
    assert front_weight[:, ~from_front].mean() < 0.1


def test_direction_prior_takes_the_side_a_ray_looks_at_from_the_start():
    """With direction_prior the untrained attention already weights the token of the side the ray looks at
    (in expectation over random features); without it, neither side; its gain is a learned parameter per head
    and a config without it has no such parameter (the snapshots from before it load unchanged)."""
    torch.manual_seed(0)
    front, back = features(1), features(2)
    toward_back = facing(-1.0, N, torch.Generator().manual_seed(3))  # rays from the front camera
    with_prior = build_fusion(FusionConfig(mode="attention", direction_prior=3.0))
    weights = with_prior(front, back, toward_back).attention[..., 0]  # (B, N, heads): weight on front
    assert weights.mean() > 0.9 and with_prior(front, back, -toward_back).attention[..., 0].mean() < 0.1
    assert with_prior.prior_gain.shape == (8,) and with_prior.prior_gain.requires_grad
    plain = build_fusion(FusionConfig(mode="attention"))
    assert plain.prior_gain is None and "prior_gain" not in plain.state_dict()
    assert 0.2 < plain(front, back, toward_back).attention[..., 0].mean() < 0.8


def test_front_only_never_reads_the_back():
    torch.manual_seed(0)
    fusion = build_fusion(FusionConfig(mode="front_only"))
    front, directions = features(1), facing(1.0, N)
    reference = fusion(front, features(2), directions)
    assert reference.attention is None and reference.features.shape == (B, N, 32)
    assert torch.equal(fusion(front, features(3), directions).features, reference.features)
    assert torch.equal(fusion(front, torch.full_like(front, float("nan")), -directions).features, reference.features)


@pytest.mark.parametrize("mode", ["concat", "mean"])
def test_concat_and_mean_use_both_views_but_not_the_direction(mode):
    torch.manual_seed(0)
    fusion = build_fusion(FusionConfig(mode=mode, out_dim=24))
    front, back, directions = features(1), features(2), facing(1.0, N)
    out = fusion(front, back, directions)
    assert out.features.shape == (B, N, 24) and out.attention is None
    assert torch.equal(fusion(front, back, -directions).features, out.features)
    assert not torch.allclose(fusion(front, features(3), directions).features, out.features)
    if mode == "mean":
        torch.testing.assert_close(fusion(back, front, directions).features, out.features)


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="unknown fusion mode 'sum'"):
        build_fusion(FusionConfig(mode="sum"))


def test_frequency_encoding():
    d = torch.tensor([[0.0, 0.5, -1.0]])
    enc = frequency_encoding(d, 4)
    assert enc.shape == (1, 27)
    torch.testing.assert_close(enc[:, :3], d)
    torch.testing.assert_close(enc[:, 3:6], torch.sin(torch.pi * d))  # k = 0, one value per axis


def test_decoder_shapes_and_range():
    torch.manual_seed(0)
    decoder = Decoder(DecoderConfig())
    sigma, feats = decoder(torch.randn(B, N, 32) * 100)
    assert sigma.shape == (B, N, 1) and feats.shape == (B, N, 32)
    assert feats.abs().max() <= 1.002 + 1e-6 and feats.abs().max() > 0.99  # saturates at +-1.002


@pytest.mark.parametrize("mode", ["attention", "concat", "mean", "front_only"])
def test_fusion_and_decoder_render_as_a_field(mode):
    """Fusion + decoder make a field for the renderer; gradients reach the fusion's parameters."""
    torch.manual_seed(0)
    fusion, decoder = build_fusion(FusionConfig(mode=mode)), Decoder(DecoderConfig())
    preset = PRESETS["head"]

    def field(points, directions):
        plane_features = torch.sin(points[..., None, :] * torch.arange(1.0, 17.0)[:, None]).flatten(-2)  # (B, N, 48)
        front = plane_features.unflatten(-1, (3, C))
        back = front.flip(-1)
        return decoder(fusion(front, back, directions).features)

    renderer = VolumeRenderer(RenderConfig(box_warp=preset.boxwarp, n_coarse=8, n_fine=8))
    out = renderer(field, preset.params(0.0, 30.0).label()[None], 8, preset.near, preset.far)
    assert out.features.shape == (1, 32, 8, 8) and torch.isfinite(out.features).all()
    out.rgb.mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in fusion.parameters() if p.grad is not None)
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in fusion.parameters())
