"""training/infer/load.py's render settings and the one render_views behind generate and the sample grids."""
from types import SimpleNamespace

import numpy as np
import torch

from training.data.layout import PRESETS
from training.infer.cameras import ortho_views
from training.infer.load import load_generator
from training.infer.render import make_character_planes, render_views
from training.train.samples import render_grid, sample_characters


def test_load_generator_builds_the_renderer_with_the_settings(tiny_snapshot):
    trained = load_generator(tiny_snapshot)
    stored = trained.model.generator.render
    assert (stored.n_coarse, stored.n_fine, stored.chunk) == (12, 12, None)  # the tiny preset's
    assert trained.G.renderer.cfg == stored
    custom = load_generator(tiny_snapshot, samples=5, chunk=77)
    assert (custom.G.renderer.cfg.n_coarse, custom.G.renderer.cfg.n_fine, custom.G.renderer.cfg.chunk) == (5, 5, 77)
    assert custom.G.cfg.render is custom.G.renderer.cfg
    render = custom.model.generator.render  # the stored config is untouched
    assert (render.n_coarse, render.n_fine, render.chunk) == (12, 12, None)
    doubled = load_generator(tiny_snapshot, sample_scale=2).G.renderer.cfg
    assert (doubled.n_coarse, doubled.n_fine, doubled.chunk) == (24, 24, None)
    for name, value in trained.G.state_dict().items():
        assert torch.equal(value, custom.G.state_dict()[name]), name


def test_sample_grid_and_generate_share_the_ortho_renders(tiny_snapshot, body_root):
    loaded = load_generator(tiny_snapshot)
    G, size = loaded.G, loaded.G.cfg.sr.img_resolution
    cfg = SimpleNamespace(data=str(body_root), data_preset="", use_features=False)
    batch = sample_characters(cfg, loaded.model, 1)
    grid = render_grid(G, batch)
    views = ortho_views(PRESETS["body"])
    assert torch.allclose(batch["ortho_label"][0], views.labels)  # the dataset's ortho cameras are generate's
    planes = make_character_planes(G, batch["cond_front"][0], batch["cond_back"][0])
    generated = np.concatenate([r.rgb for r in render_views(G, planes, views.labels, size)])
    assert grid.shape == (size, (2 + len(views.names)) * size, 3)
    for k, image in enumerate(generated):
        assert np.array_equal(grid[:, (2 + k) * size:(3 + k) * size], image), views.names[k]
