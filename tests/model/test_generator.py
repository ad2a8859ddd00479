"""The assembled generator: presets build and run, the deterministic latent, front_only ignores the back,
and the back frame is a 180-degree turn about the vertical axis."""
import pytest
import torch

from training.data.layout import PRESETS as DATA_PRESETS
from training.train.presets import model_config
from training.model.triplane import NovaGenerator, Planes


def _labels(preset: str, *views: str) -> torch.Tensor:
    return torch.stack([DATA_PRESETS[preset].ortho_params(v).label() for v in views])


@pytest.mark.parametrize("preset", ["body", "head"])
def test_full_presets_forward_at_reduced_render_resolution(preset, single_thread):
    torch.manual_seed(0)
    mc = model_config(preset)
    G = NovaGenerator(mc.generator).eval()
    cond = torch.rand(1, 3, mc.cond_resolution, mc.cond_resolution) * 2 - 1
    planes = G.make_planes(cond, cond, G.mean_ws(1), noise_mode="const")
    bb = mc.generator.backbone
    assert planes.front.shape == (1, 3, bb.plane_depth, bb.plane_channels, bb.resolution, bb.resolution)
    with torch.no_grad():
        out = G.render(planes, _labels(mc.data_preset, "front"), resolution=8, noise_mode="const")
    assert out.image.shape == (1, 3, 512, 512) and out.image_raw.shape == (1, 3, 8, 8)
    assert out.alpha.shape == out.depth.shape == (1, 1, 8, 8) and out.xyz.shape == (1, 3, 8, 8)
    assert torch.isfinite(out.image).all() and out.alpha.min() >= 0 and out.alpha.max() <= 1
    assert out.image_raw.min() >= -1.01 and out.image_raw.max() <= 1.01


def _tiny(fusion: str = "attention") -> NovaGenerator:
    torch.manual_seed(0)
    return NovaGenerator(model_config("tiny", fusion=fusion).generator).eval()


def test_inference_latent_is_deterministic(single_thread):
    G = _tiny()
    cond = torch.rand(2, 3, 64, 64) * 2 - 1
    labels = _labels("body", "front", "left")
    with torch.no_grad():
        a = G(cond, cond.flip(0), labels, noise_mode="const")
        b = G(cond, cond.flip(0), labels, noise_mode="const")
    assert torch.equal(a.image, b.image)


def test_front_only_ignores_the_back_image(single_thread):
    G = _tiny("front_only")
    front = torch.rand(1, 3, 64, 64) * 2 - 1
    labels = _labels("body", "back")
    with torch.no_grad():
        a = G(front, torch.rand(1, 3, 64, 64), labels, noise_mode="const")
        b = G(front, -torch.ones(1, 3, 64, 64), labels, noise_mode="const")
    assert torch.equal(a.image, b.image)


def test_back_image_changes_the_back_view_with_attention(single_thread):
    G = _tiny("attention")
    front = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        a = G(front, torch.rand(1, 3, 64, 64), _labels("body", "back"), noise_mode="const")
        b = G(front, -torch.ones(1, 3, 64, 64), _labels("body", "back"), noise_mode="const")
    assert not torch.allclose(a.image_raw, b.image_raw)


def test_back_frame_is_a_half_turn_about_y(single_thread):
    """Front and back planes equal: with a direction-free fusion (mean), the field is then symmetric under
    the half turn p -> (-x, y, -z), so the back camera (the front camera turned half way round) sees exactly
    what the front camera sees. An upside-down back frame, (-x, -y, z), would not."""
    G = _tiny("mean")
    torch.manual_seed(1)
    shape = G.make_planes(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64), G.mean_ws(1)).front.shape
    planes = torch.randn(shape).repeat(3, 1, 1, 1, 1, 1)  # one copy per camera below
    both = Planes(front=planes, back=planes, ws=G.mean_ws(3))
    with torch.no_grad():
        out = G.render(both, _labels("body", "front", "back", "left"), noise_mode="const")
    torch.testing.assert_close(out.image_raw[1], out.image_raw[0], atol=1e-4, rtol=0)
    torch.testing.assert_close(out.alpha[1], out.alpha[0], atol=1e-4, rtol=0)
    assert not torch.allclose(out.image_raw[2], out.image_raw[0], atol=1e-2)  # a side view differs


def test_condition_images_colour_the_half_of_the_box_their_camera_faces(single_thread):
    """At the full presets' plane structure (3 depth slices, 16 channels), before any training: the front
    image's colour is found in the front planes at z > 0 (towards the front camera) and the back image's
    in the back planes at world z < 0 (towards the back camera), not the other way round."""
    from dataclasses import replace

    from torch_utils.ops.triplane_sampler import triplane_sample

    tiny = model_config("tiny").generator
    cfg = replace(tiny, backbone=replace(tiny.backbone, plane_depth=3, plane_channels=16),
                  fusion=replace(tiny.fusion, plane_channels=16))
    torch.manual_seed(0)
    G = NovaGenerator(cfg).eval()
    size = 64
    red, blue = torch.zeros(1, 3, size, size), torch.zeros(1, 3, size, size)
    red[:, 0], blue[:, 2] = 1.0, 1.0
    with torch.no_grad():
        planes = G.make_planes(red, blue, G.mean_ws(1), noise_mode="const")
    assert planes.front.shape[2:4] == (3, 16)
    # points spread over the middle of the xy extent, at the front and the back of the box
    xy = (torch.rand(1, 256, 2) - 0.5) * cfg.box_warp * 0.5
    z = cfg.box_warp * 0.45

    def colour(plane_set: torch.Tensor, z_value: float, back_frame: bool) -> torch.Tensor:
        points = torch.cat([xy, torch.full((1, 256, 1), z_value)], -1)
        xy_plane = triplane_sample(plane_set, points, cfg.box_warp, back_frame=back_frame, reduce="none")[:, :, 0]
        return xy_plane[..., :3].mean((0, 1))  # channels 0..2 of the XY plane: (r, g, b)

    front_near, front_far = colour(planes.front, z, False), colour(planes.front, -z, False)
    back_near, back_far = colour(planes.back, -z, True), colour(planes.back, z, True)
    scale = G.cfg.backbone.cond_scale
    assert front_near[0] > 0.8 * scale and front_near[0] - front_far[0] > 0.5 * scale
    assert back_near[2] > 0.8 * scale and back_near[2] - back_far[2] > 0.5 * scale


def test_drawing_colour_shows_each_drawing_in_its_own_view_before_training(single_thread):
    """drawing_colour (the presets' setting), full plane structure, untrained: a red front drawing and a
    blue back drawing render the front view red and the back view blue (the colour is read from the
    drawing the fusion weighs for that ray); without the switch neither view follows its drawing."""
    from dataclasses import replace

    from training.infer.cameras import ortho_views

    tiny = model_config("tiny").generator
    assert tiny.drawing_colour and tiny.decoder.drawing_colour
    full = replace(tiny, backbone=replace(tiny.backbone, plane_depth=3, plane_channels=16),
                   fusion=replace(tiny.fusion, plane_channels=16))
    plain = replace(full, drawing_colour=False, decoder=replace(full.decoder, drawing_colour=False))
    red, blue = -torch.ones(1, 3, 64, 64), -torch.ones(1, 3, 64, 64)
    red[:, 0], blue[:, 2] = 1.0, 1.0
    labels = ortho_views(DATA_PRESETS["body"]).labels[:2][None]  # front, back
    for cfg, follows in ((full, True), (plain, False)):
        torch.manual_seed(0)
        G = NovaGenerator(cfg).eval()
        with torch.no_grad():
            raw = G(red, blue, labels, noise_mode="const").image_raw  # (2, 3, 32, 32)
        centre = raw[:, :, 12:20, 12:20].mean((2, 3))  # the middle of the box: (view, rgb)
        front_redder, back_bluer = centre[0, 0] - centre[1, 0], centre[1, 2] - centre[0, 2]
        assert (front_redder > 0.2 and back_bluer > 0.2) == follows, (cfg.drawing_colour, centre)
