"""The procedural characters: valid meshes at the pose and proportion extremes, heads tall as drawn,
a back that is not the mirrored front, every style drawn, pale colours common, ids deterministic."""
import colorsys
from dataclasses import replace
from itertools import product

import numpy as np
import pytest
from scipy import ndimage

from tests.data.conftest import mirrored_difference
from training.data.layout import MASK_THRESHOLD, PRESETS
from training.data.synth import body, clothes
from training.data.synth.characters import build_character, character_mesh, character_parts
from training.data.synth.gl_render import MeshRenderer
from training.data.synth.procedural import character_ids
from training.data.synth.skeleton import Skeleton
from training.data.synth.traits import (BACK_DETAILS, FRONT_DETAILS, HAIR_STYLES, HATS, HEADS_TALL, OUTFITS,
                                        PATTERNS, POSES, Traits, sample_traits)

BODY = PRESETS["body"]
EXTREMES = list(product(POSES, HEADS_TALL))


@pytest.fixture(scope="module")
def renderer():
    r = MeshRenderer(64)
    yield r
    r.release()


def render(renderer: MeshRenderer, t: Traits | str, view: str, preset: str = "body") -> np.ndarray:
    """RGBA of an ortho view of a character (its traits or its id)."""
    mesh = build_character(t, preset) if isinstance(t, str) else character_mesh(t, preset)
    params = PRESETS[preset].ortho_params(view)
    return renderer.render(mesh, params.label(), params.near, params.far).rgba


def extreme(k: int, pose: str, heads_tall: float) -> Traits:
    """A sampled character at a pose and proportion extreme, arms and legs spread furthest, with the
    k-th outfit, back item, hat and hair style (so the cases cover every shell and accessory)."""
    t = sample_traits(np.random.default_rng(k))
    return replace(t, pose=pose, heads_tall=heads_tall, arm_raise=1.0, leg_spread=8.0, outfit=OUTFITS[k % 5],
                   back=BACK_DETAILS[k % 5], hat=HATS[k % 4], hair_style=HAIR_STYLES[k], ahoge=True)


def boundary_edges(positions: np.ndarray, faces: np.ndarray) -> int:
    """Edges with one triangle, after welding coincident vertices (rings meet at poles and seams)."""
    _, weld = np.unique(np.round(positions, 6), axis=0, return_inverse=True)
    f = weld.reshape(-1)[faces]
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), 1)
    _, count = np.unique(edges[edges[:, 0] != edges[:, 1]], axis=0, return_counts=True)
    return int((count == 1).sum())


@pytest.mark.parametrize("k,pose,heads_tall", [(k, *case) for k, case in enumerate(EXTREMES)],
                         ids=[f"{p}-{h}" for p, h in EXTREMES])
def test_extremes_build_valid_meshes_inside_the_box(k, pose, heads_tall, renderer):
    """Finite, indices in range, inside the box standing on its floor; every part closed but the
    skirt, coat and cape shells; the front and side silhouettes (any coverage) in one piece: nothing
    floats off the body."""
    t = extreme(k, pose, heads_tall)
    mesh = character_mesh(t, "body")
    assert np.isfinite(mesh.positions).all() and np.isfinite(mesh.colors).all()
    assert mesh.faces.min() == 0 and mesh.faces.max() == len(mesh.positions) - 1
    assert ((mesh.colors >= 0) & (mesh.colors <= 1)).all()
    assert np.abs(mesh.positions).max() < BODY.boxwarp / 2
    assert mesh.positions[:, 1].min() == pytest.approx(-0.46 * BODY.boxwarp, abs=1e-5)
    parts = character_parts(t, bust=False)
    open_parts = sum(boundary_edges(p.positions, p.faces) > 0 for p in parts)
    assert open_parts == len(clothes.shells(t, Skeleton.of(t))) + (t.back == "cape")
    for view in ("front", "left"):
        assert ndimage.label(render(renderer, t, view)[..., 3] > 0, np.ones((3, 3)))[1] == 1, view


@pytest.mark.parametrize("heads_tall", [2.5, 3.5, 5.0, 6.5, 8.0])
def test_height_in_heads_matches_the_trait(heads_tall):
    """Soles to the top of the skull, in skull heights, is heads_tall, in every pose (spread legs
    still stand on y = 0)."""
    for k, pose in enumerate(POSES):
        t = replace(sample_traits(np.random.default_rng(k)), heads_tall=heads_tall, pose=pose, leg_spread=8.0)
        floor = min(p.positions[:, 1].min() for p in character_parts(t, bust=False))
        skull = body.skull(t, Skeleton.of(t)).positions[:, 1]
        assert floor == pytest.approx(0.0, abs=1e-9)
        assert (skull.max() - floor) / (skull.max() - skull.min()) == pytest.approx(heads_tall, rel=1e-3)


def test_back_is_never_the_mirrored_front(renderer):
    """Over 12 sampled characters (every back item): back vs flipped front differs more than left vs
    flipped right (mirror images for these symmetric characters) ever does. Measured at 64^2: back vs
    front >= 0.026 over 200 characters, left vs right <= 0.008 over 60."""
    backs = set()
    for char_id in character_ids(1, 12):
        view = {v: render(renderer, char_id, v) for v in ("front", "back", "left", "right")}
        assert mirrored_difference(view["back"], view["front"]) > 0.02, char_id
        assert mirrored_difference(view["left"], view["right"]) < 0.01, char_id
        backs.add(sample_traits(np.random.default_rng(int(char_id))).back)
    assert backs == set(BACK_DETAILS)


@pytest.fixture(scope="module")
def drawn() -> list[Traits]:
    return [sample_traits(np.random.default_rng(int(i))) for i in character_ids(0, 300)]


def test_every_style_is_drawn(drawn):
    """300 characters cover every pose, outfit, pattern, hair style, hat, front and back detail, and
    proportions from chibi to realistic."""
    assert {t.pose for t in drawn} == set(POSES)
    assert {t.outfit for t in drawn} == set(OUTFITS)
    assert {f.pattern for t in drawn for f in (t.top, t.bottom, t.outer)} == set(PATTERNS)
    assert {t.hair_style for t in drawn} == set(HAIR_STYLES)
    assert {t.hat for t in drawn} == set(HATS)
    assert {t.front for t in drawn} == set(FRONT_DETAILS)
    assert {t.back for t in drawn} == set(BACK_DETAILS)
    assert {t.ahoge for t in drawn} == {True, False} and {t.trim is None for t in drawn} == {True, False}
    heads = np.array([t.heads_tall for t in drawn])
    assert (heads < 3).mean() > 0.05 and (heads > 7.5).mean() > 0.05


def is_pale(color) -> bool:
    _, saturation, value = colorsys.rgb_to_hsv(*color)
    return saturation <= 0.12 and value >= 0.9


def test_pale_skin_and_white_clothes_are_common(drawn, renderer):
    """About a quarter of the main garments (top, dress or coat) and a third of the skin tones are
    pale; rendered, a pale garment lies close to the white background (and is still foreground)."""
    pale_main = [t for t in drawn if is_pale(t.main.base)]
    assert 0.18 < len(pale_main) / len(drawn) < 0.4
    assert 0.25 < np.mean([is_pale(t.skin) for t in drawn]) < 0.45
    plain = next(t for t in pale_main if t.main.pattern == "plain")
    rgba = render(renderer, plain, "front").astype(float) / 255
    foreground = rgba[..., 3] > MASK_THRESHOLD / 255
    assert (rgba[..., :3].min(-1) > 0.8)[foreground].mean() > 0.15


def test_same_id_same_mesh():
    """The mesh follows from the id alone; another id is another character."""
    a, b = (build_character(i, "body") for i in character_ids(0, 2))
    again = build_character(character_ids(0, 1)[0], "body")
    for name in ("positions", "faces", "colors"):
        assert getattr(a, name).tobytes() == getattr(again, name).tobytes()
    assert a.positions.tobytes() != b.positions.tobytes()
