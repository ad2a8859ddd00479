"""The one set of inference settings (training/infer/render.py) and the one render_views behind generate,
reconstruct, measure and the sample grids."""
from types import SimpleNamespace

import numpy as np
import torch

from _scripts.options import load_image_model
from training.data.layout import PRESETS
from training.infer.cameras import ortho_views
from training.infer.load import load_generator
from training.train.config import effective_render_chunk
from training.infer.render import InferenceSettings, make_character_planes, render_views
from training.train.samples import render_grid, sample_characters

TRAINED = InferenceSettings(sample_scale=1)  # the renderer G_ema trains with


def test_load_generator_builds_the_renderer_with_the_settings(tiny_snapshot):
    trained = load_generator(tiny_snapshot, settings=TRAINED)
    stored = trained.model.generator.render
    cpu_chunk = effective_render_chunk(None, torch.device("cpu"))  # the fixture trained on CPU
    assert (stored.n_coarse, stored.n_fine, stored.chunk) == (12, 12, cpu_chunk)  # the tiny preset's
    assert trained.G.renderer.cfg == stored
    custom = load_generator(tiny_snapshot, settings=InferenceSettings(samples=5, chunk=77))
    assert (custom.G.renderer.cfg.n_coarse, custom.G.renderer.cfg.n_fine, custom.G.renderer.cfg.chunk) == (5, 5, 77)
    assert custom.G.cfg.render is custom.G.renderer.cfg
    render = custom.model.generator.render  # the stored config is untouched
    assert (render.n_coarse, render.n_fine, render.chunk) == (12, 12, cpu_chunk)
    default = load_generator(tiny_snapshot).G.renderer.cfg  # the rule: twice the trained counts
    assert (default.n_coarse, default.n_fine, default.chunk) == (24, 24, cpu_chunk)
    assert not load_generator(tiny_snapshot).G.cfg.carve and not trained.model.generator.carve  # off by default
    assert load_generator(tiny_snapshot, settings=InferenceSettings(carve=True)).G.cfg.carve  # an inference setting
    for name, value in trained.G.state_dict().items():
        assert torch.equal(value, custom.G.state_dict()[name]), name


def test_generate_reconstruct_and_measure_share_the_settings(tiny_snapshot, body_root, tmp_path):
    """generate's and reconstruct's generator (load_image_model without --samples) renders with the
    default InferenceSettings, and measure's table says it rendered with the same samples per ray."""
    from training.eval.measure import FeatureNets, measure

    image = load_image_model(inferquery=None, ckpt=tiny_snapshot, runs=None, device="cpu", batch=None, chunk=None,
                             lowmem=False, carve=True, samples=None, res=None, video=False, frames=8, fps=30.0, mesh=False,
                             mesh_res=16, mesh_level=None, mesh_formats="ply")
    cfg = image.loaded.G.renderer.cfg
    results = measure(tiny_snapshot, "q", body_root, None, "test", 1, "standard", 32, FeatureNets(),
                      torch.device("cpu"), progress=False)
    assert results["samples_per_ray"] == [cfg.n_coarse, cfg.n_fine] == [24, 24]
    assert "24 + 24 samples per ray" in results["render_text"]


def test_sample_grid_renders_what_generate_writes(tiny_snapshot, body_root):
    """The trainer's G_ema has the trained sample counts; its grid still shows generate's renders."""
    G_ema = load_generator(tiny_snapshot, settings=TRAINED).G
    model = load_generator(tiny_snapshot).model
    cfg = SimpleNamespace(data=str(body_root), data_preset="", use_features=False)
    batch = sample_characters(cfg, model, 1)
    state_before = {k: v.clone() for k, v in G_ema.state_dict().items()}
    rng_before = torch.get_rng_state()
    grid = render_grid(G_ema, model, batch)
    assert torch.equal(torch.get_rng_state(), rng_before)  # building the inference copy draws nothing
    assert all(torch.equal(v, state_before[k]) for k, v in G_ema.state_dict().items())
    assert G_ema.renderer.cfg.n_coarse == 12  # G_ema itself is left as it trains

    G = load_generator(tiny_snapshot).G  # generate's generator
    size = G.cfg.sr.img_resolution
    views = ortho_views(PRESETS["body"])
    assert torch.allclose(batch["ortho_label"][0], views.labels)  # the dataset's ortho cameras are generate's
    planes = make_character_planes(G, batch["cond_front"][0], batch["cond_back"][0])
    generated = np.concatenate([r.rgb for r in render_views(G, planes, views.labels, size)])
    assert grid.shape == (size, (2 + len(views.names)) * size, 3)
    for k, image in enumerate(generated):
        assert np.array_equal(grid[:, (2 + k) * size:(3 + k) * size], image), views.names[k]


def test_surface_points_at_another_ray_count(tiny_snapshot, body_root):
    """surface_size renders alpha/xyz at that many rays (the geometry metrics' full resolution) and
    leaves the image alone; at the neural render's own count it is that render's alpha/xyz."""
    G = load_generator(tiny_snapshot).G
    cond = torch.zeros(3, 64, 64)
    planes = make_character_planes(G, cond, cond)
    labels = ortho_views(PRESETS["body"]).labels[:2]
    (plain,) = render_views(G, planes, labels, 32, batch=2)
    (same,) = render_views(G, planes, labels, 32, batch=2, surface_size=16)
    (fine,) = render_views(G, planes, labels, 32, batch=2, surface_size=48)
    assert plain.xyz.shape[-1] == 16 and torch.equal(same.xyz, plain.xyz) and torch.equal(same.alpha, plain.alpha)
    assert fine.xyz.shape == (2, 3, 48, 48) and fine.alpha.shape == (2, 1, 48, 48)
    assert torch.equal(fine.image, plain.image)
    assert fine.xyza.shape == plain.xyza.shape == (2, 32, 32, 4)
