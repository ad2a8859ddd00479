"""The volume renderer against analytic scenes, through the project's own cameras.

Tolerances come from the sample spacing. With clip_to_box a ray's coarse samples split its part of
the box into n_coarse equal bins, so the coarse spacing h is at most H = box diagonal / n_coarse.
In eval mode the coarse samples are bin midpoints and fine samples only add points, so two samples
that straddle a surface are at most h apart; each sample stands for the stretch between the
midpoints to its neighbours, so the integrated optical depth over a chord is off by at most half a
gap at each end: |error| <= density * h.
"""
import math

import pytest
import torch

from training.geometry.camera import ray_bundle
from training.data.layout import PRESETS
from training.model.volumetric_rendering import RenderConfig, VolumeRenderer
from training.model.volumetric_rendering.ray_samplers import blur_weights, importance_samples, stratified_samples

EMPTY_SIGMA = -1e4  # softplus(-1e4 - 1) is exactly 0 in float32
OPAQUE_DENSITY = 1000.0  # mean free path 1 mm, far below any sample spacing here
VIEWS = [("body", True, 0.0, 0.0), ("body", False, 20.0, -60.0), ("head", True, -30.0, 135.0), ("head", False, 0.0, 90.0)]


def sigma_for(density: float) -> float:
    """The raw sigma whose softplus(sigma - 1) is the given density."""
    return 1.0 + density + math.log(-math.expm1(-density))


def ball(radius: float, density: float, center=(0.0, 0.0, 0.0)):
    """A field: constant density inside a ball, empty outside; features = [-1, 0.5, 0] colour + the point."""
    c, sigma_in = torch.tensor(center), sigma_for(density)

    def field(points, directions):
        inside = (points - c).norm(dim=-1, keepdim=True) < radius
        sigma = torch.where(inside, sigma_in, EMPTY_SIGMA)
        colour = torch.tensor([-1.0, 0.5, 0.0]).expand(*points.shape[:-1], 3)
        return sigma, torch.cat([colour, points], -1)

    return field


def analytic_rays(label, resolution, radius, center=(0.0, 0.0, 0.0)):
    """Per pixel (row-major, float64): chord length through the ball (0 on a miss) and entry depth."""
    origins, directions = (x[0].double() for x in ray_bundle(label, resolution))
    oc = origins - torch.tensor(center, dtype=torch.float64)
    b = (oc * directions).sum(-1)
    disc = b ** 2 - ((oc * oc).sum(-1) - radius ** 2)
    root = disc.clamp_min(0).sqrt()
    return torch.where(disc > 0, 2 * root, 0.0), -b - root


def setup(preset_name, ortho, elev, azim, **cfg):
    preset = PRESETS[preset_name]
    params = preset.params(elev, azim, ortho=ortho)
    renderer = VolumeRenderer(RenderConfig(box_warp=preset.boxwarp, **cfg)).eval()
    max_spacing = preset.boxwarp * math.sqrt(3) / renderer.cfg.n_coarse
    return preset, params, renderer, max_spacing


def coverage(preset, params, radius):
    """Silhouette radius and image width, both in world units (ortho) or on the tangent plane (perspective)."""
    if params.ortho:
        return radius, preset.boxwarp
    return math.tan(math.asin(radius / preset.dist)), 2 * math.tan(math.radians(params.fov) / 2)


@pytest.mark.parametrize("preset_name,ortho,elev,azim", VIEWS)
def test_opaque_sphere_coverage_and_depth(preset_name, ortho, elev, azim):
    preset, params, renderer, max_spacing = setup(preset_name, ortho, elev, azim)
    radius, res = 0.3 * preset.boxwarp, 65
    out = renderer(ball(radius, OPAQUE_DENSITY), params.label()[None], res, params.near, params.far)
    alpha = out.alpha[0, 0].flatten().double()
    chord, entry = analytic_rays(params.label()[None], res, radius)

    # per ray: a miss renders nothing at all; a chord longer than two coarse bins holds at least one
    # midpoint sample whose optical depth is >= density * h / 2 >> 10, so it renders opaque
    assert torch.all(alpha[chord == 0] == 0)
    solid = chord > 2 * max_spacing
    assert torch.all(alpha[solid] > 1 - 1e-4)
    grazing = ((chord > 0) & ~solid).double().mean()
    assert abs(alpha.mean() - (chord > 0).double().mean()) <= grazing  # only grazing rays may differ

    # the fraction of covered pixels vs the analytic silhouette (a disc of radius rho in an image of
    # width W: ortho the sphere's own disc, perspective the tangent cone's): pixel centres only
    # differ from the area where a pixel straddles the circle, and those all lie within a pixel
    # diagonal of it, a band of area 4 pi rho (sqrt 2 W / R)
    rho, width = coverage(preset, params, radius)
    band = 4 * math.pi * rho * math.sqrt(2) * width / res / width ** 2
    assert abs(alpha.mean() - math.pi * rho ** 2 / width ** 2) <= band + grazing

    # depth: on the optical axis the surface is at dist - r. Fine samples fill the ~3 widened bins
    # around the surface (>= 87% of them, the rest is the 0.01-per-bin padding), so the first
    # sample past the surface lies within 3 h / (0.87 n_fine); add the mean free path, twice each.
    h = max_spacing
    tol = 2 * (3 * h / (0.87 * renderer.cfg.n_fine) + 1 / OPAQUE_DENSITY)
    assert abs(out.depth[0, 0, res // 2, res // 2].item() - (preset.dist - radius)) < tol
    depth = out.depth[0, 0].flatten().double()
    assert torch.all((depth[solid] - entry[solid]).abs() < tol)


@pytest.mark.parametrize("ortho", [True, False])
def test_coarse_only_depth_is_within_one_bin(ortho):
    preset, params, renderer, _ = setup("body", ortho, 0.0, 0.0, n_fine=0)
    radius, res = 0.5, 33
    out = renderer(ball(radius, OPAQUE_DENSITY), params.label()[None], res, params.near, params.far)
    h = preset.boxwarp / renderer.cfg.n_coarse  # the axial ray crosses the box face to face
    error = out.depth[0, 0, res // 2, res // 2].item() - (preset.dist - radius)
    assert 0 <= error < h + 2 / OPAQUE_DENSITY  # the first midpoint inside, at most one bin deep


@pytest.mark.parametrize("preset_name,ortho,elev,azim", VIEWS)
def test_semi_transparent_ball_alpha_is_beer_lambert(preset_name, ortho, elev, azim):
    preset, params, renderer, max_spacing = setup(preset_name, ortho, elev, azim)
    radius = 0.25 * preset.boxwarp
    center = (0.1 * preset.boxwarp, 0.05 * preset.boxwarp, -0.08 * preset.boxwarp)
    density = 0.6 / radius  # optical depth 1.2 through the centre: alpha 0.70
    res = 48
    out = renderer(ball(radius, density, center), params.label()[None], res, params.near, params.far)
    chord, _ = analytic_rays(params.label()[None], res, radius, center)
    expected = 1 - torch.exp(-density * chord)
    alpha = out.alpha[0, 0].flatten().double()
    assert (chord > 0).sum() > 100
    # optical depth off by <= density * h (half a gap at each chord end); d alpha / d tau <= 1
    assert torch.all((alpha - expected).abs() <= density * max_spacing)
    # composited colour = alpha * colour + (1 - alpha) * white
    rgb = out.rgb[0].flatten(1).double()
    colour = torch.tensor([-1.0, 0.5, 0.0], dtype=torch.float64)[:, None]
    torch.testing.assert_close(rgb, alpha * colour + (1 - alpha), atol=1e-5, rtol=0)


@pytest.mark.parametrize("ortho", [True, False])
@pytest.mark.parametrize("white", [True, False])
def test_empty_space_renders_background_exactly(ortho, white):
    preset, params, renderer, _ = setup("head", ortho, 10.0, 200.0, white_background=white)
    field = lambda points, directions: (torch.full_like(points[..., :1], EMPTY_SIGMA), torch.randn(*points.shape[:-1], 7))
    out = renderer(field, params.label()[None].expand(2, -1), 16, params.near, params.far)
    assert out.features.shape == (2, 7, 16, 16) and out.rgb.shape == (2, 3, 16, 16)
    assert torch.equal(out.features, torch.full_like(out.features, 1.0 if white else 0.0))
    assert torch.equal(out.alpha, torch.zeros_like(out.alpha))
    torch.testing.assert_close(out.depth, torch.full_like(out.depth, params.far))


def wavy_field(points, directions):
    """Smooth, per-point (elementwise) field, so chunking cannot change a single bit."""
    x, y, z = points.unbind(-1)
    sigma = 8 * torch.sin(3 * x) * torch.cos(2 * y) + 4 * z - 2
    features = torch.stack([torch.sin(5 * x), torch.cos(4 * y), torch.tanh(z), (directions * points).sum(-1)], -1)
    return sigma[..., None], features


@pytest.mark.parametrize("training", [False, True])
def test_chunked_equals_unchunked(training):
    preset = PRESETS["body"]
    labels = torch.stack([preset.params(15.0, 40.0).label(), preset.params(0.0, 180.0, ortho=True).label()])
    results = []
    for chunk in (None, 100):  # 100 does not divide the 32 * 32 rays
        renderer = VolumeRenderer(RenderConfig(box_warp=preset.boxwarp, chunk=chunk)).train(training)
        torch.manual_seed(0)
        results.append(renderer(wavy_field, labels, 32, preset.near, preset.far, return_samples=True))
    for name in ("features", "depth", "alpha", "xyz", "sample_depths", "sample_weights"):
        assert torch.equal(getattr(results[0], name), getattr(results[1], name)), name


def test_importance_samples_gather_at_the_surface():
    preset, params, renderer, _ = setup("body", False, 0.0, 0.0)
    radius, res = 0.6, 33
    out = renderer(ball(radius, OPAQUE_DENSITY), params.label()[None], res, params.near, params.far,
                   return_samples=True)
    t = out.sample_depths[0, (res // 2) * res + res // 2]
    assert torch.all(t.diff() >= 0) and t.numel() == 96
    h = preset.boxwarp / renderer.cfg.n_coarse
    near_surface = ((t - (preset.dist - radius)).abs() <= 1.5 * h).sum().item()
    assert near_surface >= 0.8 * renderer.cfg.n_fine  # >= 87% expected, see the depth test
    weights = out.sample_weights[0, (res // 2) * res + res // 2]
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0))


def test_inverse_cdf_sampler():
    edges, mids = stratified_samples(torch.zeros(1, 1), torch.full((1, 1), 4.0), torch.full((1, 4), 0.5))
    torch.testing.assert_close(mids, torch.tensor([[0.5, 1.5, 2.5, 3.5]]))
    # uniform weights reproduce the stratified midpoints at any resolution
    torch.testing.assert_close(importance_samples(edges, torch.ones(1, 4), torch.full((1, 8), 0.5)),
                               torch.arange(8.0)[None] * 0.5 + 0.25)
    # all the mass in bin 2 -> all samples in [2, 3]; widened, the neighbours [1, 4] share it
    spike = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    inside = importance_samples(edges, spike + 1e-9, torch.rand(1, 16))
    assert torch.all((inside >= 2) & (inside <= 3)) and torch.all(inside.diff() >= 0)
    torch.testing.assert_close(blur_weights(spike, 0.01), torch.tensor([[0.01, 1.01, 1.01, 1.01]]))


def test_gradients_are_finite_with_empty_rays():
    preset, params, renderer, _ = setup("head", False, 0.0, 0.0)
    scale = torch.tensor(1.0, requires_grad=True)

    def field(points, directions):
        sigma, features = ball(0.2, 5.0)(points, directions)
        return sigma * scale, features * scale

    out = renderer(field, params.label()[None], 24, params.near, params.far)
    (out.features.mean() + out.depth.mean() + out.alpha.mean()).backward()
    assert torch.isfinite(scale.grad) and scale.grad != 0


def test_recomputed_chunks_give_the_same_images_and_gradients():
    """recompute (checkpointed chunks) changes memory, not numbers: outputs and field gradients agree."""
    preset = PRESETS["body"]
    labels = torch.stack([preset.params(15.0, 40.0).label(), preset.params(0.0, 180.0, ortho=True).label()])
    scale = torch.tensor(1.0, requires_grad=True)

    def field(points, directions):
        sigma, features = wavy_field(points, directions)
        return sigma * scale, features * scale ** 2

    results = []
    for recompute in (False, True):
        renderer = VolumeRenderer(RenderConfig(box_warp=preset.boxwarp, chunk=300, recompute=recompute)).train()
        torch.manual_seed(0)
        out = renderer(field, labels, 24, preset.near, preset.far)
        (grad,) = torch.autograd.grad(out.features.square().sum() + out.depth.sum(), scale)
        results.append((out.features.detach(), out.depth.detach(), grad))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)


def test_a_subset_of_rays_renders_as_those_pixels_of_the_image():
    """render_rays on picked pixels' rays (refinement's use) equals those pixels of the full render, and the
    ball's analytic coverage: a pixel is rendered from its ray alone."""
    preset, params, renderer, _ = setup("body", True, 0.0, 0.0)
    label = params.label()[None]
    image = renderer(ball(0.5, OPAQUE_DENSITY), label, 24, preset.near, preset.far)
    origins, directions = ray_bundle(label, 24)
    pick = torch.tensor([[5, 300, 287, 0, 575, 144]])
    composite, depths = renderer.render_rays(ball(0.5, OPAQUE_DENSITY), origins[:, pick[0]], directions[:, pick[0]],
                                             preset.near, preset.far, return_samples=True)
    rows, cols = pick[0] // 24, pick[0] % 24
    assert torch.allclose(composite.alpha[0, :, 0], image.alpha[0, 0, rows, cols])
    assert torch.allclose(composite.features[0, :, :3].T, image.features[0, :3, rows, cols])
    assert depths.shape == (1, 6, renderer.cfg.n_coarse + renderer.cfg.n_fine)
    assert renderer.render_rays(ball(0.5, OPAQUE_DENSITY), origins[:, :3], directions[:, :3], preset.near,
                                preset.far)[1] is None  # depths only when asked for
    chord, _ = analytic_rays(label, 24, 0.5)
    assert torch.equal(composite.alpha[0, :, 0] > 0.5, chord[pick[0]] > 0)
