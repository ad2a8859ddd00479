"""Fitting a character's planes to its two drawings (training/infer/refine.py): the fitted planes render
the drawings from the drawings' cameras, the networks are not touched, the kept side views stay close to
the generator's, and the fit is repeatable. On the small preset's structure (3 depth slices, 16 channels,
64 px condition images, 128 px output without super-resolution, as the released model), random weights."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.data.layout import PRESETS, Renderset
from training.infer.cameras import ortho_views
from training.infer.load import LoadedGenerator
from training.infer.reconstruct import drawing_size, image_planes, prepare_pair
from training.infer.refine import RefineSettings, drawing_targets, refine_planes
from training.infer.render import InferenceSettings, inference_generator
from training.model.triplane import NovaGenerator
from training.train.presets import model_config

FIT = RefineSettings(steps=20, lr=0.08, rays=128)


@pytest.fixture(scope="module")
def setup(body_root, tmp_path_factory):
    """A small-preset generator (random weights, 16 samples per ray), one test character's ortho front and
    back as the user's drawings, its unrefined planes and the drawings' targets."""
    model = model_config("small", superresolution=False, neural_resolution=32)
    torch.manual_seed(0)
    state = NovaGenerator(model.generator).state_dict()
    G = inference_generator(model.generator, state, InferenceSettings(samples=8))
    loaded = LoadedGenerator(G=G, model=model, train_config={}, path=Path("small-random"))
    rs = Renderset(body_root, "human_rutileE")
    char_dir = sorted((rs.dir / "ortho").glob("*/*"))[0]
    folder = tmp_path_factory.mktemp("drawings")
    paths = []
    for view in ("front", "back"):
        im = Image.open(char_dir / f"{view}.png").convert("RGBA")
        im.resize((im.width * 4, im.height * 4), Image.NEAREST).save(folder / f"{view}.png")
        paths.append(folder / f"{view}.png")
    drawings = prepare_pair(loaded, "body", *paths)
    planes = image_planes(loaded, "body", drawings, RefineSettings(steps=0))
    return loaded, planes, drawing_targets(PRESETS["body"], *drawings)


def render(G, planes, labels, size):
    with torch.no_grad():
        out = G.renderer(G.field(planes.expand(len(labels))), labels, size,
                         G.cfg.near, G.cfg.far)
    return out.rgb, out.alpha


def drawing_error(G, planes, targets) -> float:
    """Mean absolute error of the full renders from the drawings' cameras, colour and alpha."""
    rgb, alpha = render(G, planes, targets.labels, targets.rgb.shape[-1])
    return float((rgb - targets.rgb).abs().mean() + (alpha - targets.alpha).abs().mean())


def test_drawings_are_prepared_at_the_output_size_and_shrunk_for_the_encoder(setup, monkeypatch):
    loaded, planes, targets = setup
    assert (loaded.model.cond_resolution, loaded.G.cfg.sr.img_resolution, drawing_size(loaded)) == (64, 128, 128)
    assert planes.front.shape[1:4] == (3, 3, 16)  # three planes of 3 depth slices x 16 channels
    assert targets.rgb.shape == (2, 3, 128, 128) and targets.alpha.shape == (2, 1, 128, 128)
    assert torch.equal(targets.labels, ortho_views(PRESETS["body"]).labels[:2])
    seen = []
    encode = loaded.G.encoder.forward
    monkeypatch.setattr(loaded.G.encoder, "forward", lambda x: seen.append(x.shape) or encode(x))
    drawings = tuple(Image.fromarray(((t.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype(np.uint8))
                     for t in targets.rgb)
    image_planes(loaded, "body", drawings, RefineSettings(steps=0))
    assert seen == [(2, 3, 64, 64)]  # front and back in one call, at the condition size


def test_the_fit_renders_the_drawings(setup):
    """Learning: the fitted planes render the two drawings far better than the generator's planes
    (whole images, every pixel, not only the rays the fit drew)."""
    loaded, planes, targets = setup
    before = drawing_error(loaded.G, planes, targets)
    fitted = refine_planes(loaded.G, planes, targets, FIT)
    after = drawing_error(loaded.G, fitted, targets)
    assert after < 0.65 * before, (before, after)


def test_the_fit_changes_only_the_planes_and_leaves_the_random_state(setup):
    loaded, planes, targets = setup
    weights = {k: v.clone() for k, v in loaded.G.state_dict().items()}
    front, back = planes.front.clone(), planes.back.clone()
    rng = torch.get_rng_state()
    loaded.G.requires_grad_(True)  # even weights that ask for gradients collect none
    try:
        fitted = refine_planes(loaded.G, planes, targets, RefineSettings(steps=3, rays=64))
        assert all(p.grad is None for p in loaded.G.parameters())
    finally:
        loaded.G.requires_grad_(False)
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(v, loaded.G.state_dict()[k]) for k, v in weights.items())
    assert torch.equal(planes.front, front) and torch.equal(planes.back, back)  # the input planes are not changed
    assert not torch.equal(fitted.front, front) and not torch.equal(fitted.back, back)
    assert not fitted.front.requires_grad and fitted.front.grad is None
    assert fitted.ws is planes.ws and fitted.silhouettes is planes.silhouettes


def test_the_fit_is_repeatable_and_zero_steps_is_no_fit(setup):
    loaded, planes, targets = setup
    settings = RefineSettings(steps=3, rays=64, seed=5)
    a, b = (refine_planes(loaded.G, planes, targets, settings) for _ in range(2))
    assert torch.equal(a.front, b.front) and torch.equal(a.back, b.back)
    assert refine_planes(loaded.G, planes, targets, RefineSettings(steps=0)) is planes


def test_keeping_the_sides_keeps_their_silhouettes_closer(setup):
    """The keep term holds the ortho side views' alpha to the generator's: with it, the sides move less
    than when the drawings alone are fitted."""
    loaded, planes, targets = setup
    size = 64  # the side silhouettes compared at half the drawings' size: enough to see them move
    _, sides = render(loaded.G, planes, targets.keep_labels, size)
    moved = {}
    for keep in (0.0, 4.0):
        fitted = refine_planes(loaded.G, planes, targets, replace(FIT, keep_weight=keep))
        moved[keep] = float((render(loaded.G, fitted, targets.keep_labels, size)[1] - sides).abs().mean())
    assert moved[4.0] < 0.7 * moved[0.0], moved


def test_progress_is_reported_per_step(setup):
    loaded, planes, targets = setup
    seen = []
    refine_planes(loaded.G, planes, targets, RefineSettings(steps=4, rays=32), lambda step, loss: seen.append((step, loss)))
    assert [s for s, _ in seen] == [1, 2, 3, 4] and all(np.isfinite(l) for _, l in seen)


@pytest.mark.parametrize("bad", [dict(steps=-1), dict(rays=0), dict(lr=0.0), dict(alpha_weight=-1.0), dict(keep_weight=-0.5)])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError):
        RefineSettings(**bad)
