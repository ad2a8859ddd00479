"""Procedural anime-like characters as triangle meshes, deterministic per character id.

A character is its traits (traits.py: pose, proportions, colours, clothes, hair, accessories), drawn
from a generator seeded by its id, built into parts in head units (skeleton.py: head radius about
1, feet at y = 0, facing +z; body.py, clothes.py, hair.py, accessories.py) and then scaled into the
preset's box. Every character has details seen only from the front (the face, a tie, ribbon or
buttons) and only from the back (the hair's back pattern, a back item), so its back view is never
its mirrored front view: a model must use the back image to get the back right.

Colours are flat per part (or patterned) with a mild shading from above baked in, the same seen from
the front and the back; surfaces facing sideways keep 92% of their colour, so white clothes render
close to the white the images are composited on.
"""
from __future__ import annotations

import numpy as np

from training.data.layout import PRESETS
from training.data.synth import accessories, body, clothes, hair
from training.data.synth.gl_render import Mesh
from training.data.synth.primitives import Part
from training.data.synth.skeleton import Skeleton
from training.data.synth.traits import Traits, sample_traits

SHADE = (0.84, 1.0)  # brightness of surfaces facing down .. up


def character_parts(t: Traits, bust: bool) -> list[Part]:
    """All parts; the bust (head preset) is the neck, head, face, hair and hat only."""
    s = Skeleton.of(t)
    head = body.head_and_face(t, s, bust) + hair.hair(t, s, bust) + accessories.hat(t, s) + accessories.head_bow(t, s)
    if bust:
        return head
    return (head + body.torso(t, s) + body.limbs(t, s) + clothes.shells(t, s) + clothes.front_details(t, s)
            + accessories.back_item(t, s))


def _fit(positions: np.ndarray, boxwarp: float, bust: bool, height: float) -> np.ndarray:
    """Scale and move into the box: the body stands on y = -0.46 bw; the bust is centred and spans
    0.85 bw, leaving the head preset's perspective views (which see less than the box) a margin."""
    lo, hi = positions.min(0), positions.max(0)
    half = 0.46 * boxwarp
    if bust:
        return (positions - (lo + hi) / 2) * (0.85 * boxwarp / (hi - lo).max())
    extent = np.abs(positions[:, [0, 2]]).max()
    scale = min(height * boxwarp / hi[1], half / extent)
    return positions * scale + [0, -half, 0]


def character_mesh(t: Traits, preset: str) -> Mesh:
    """The mesh of a character with these traits (body or head preset), shaded and in the box."""
    bust = preset == "head"
    parts = character_parts(t, bust)
    offsets = np.cumsum([0] + [len(p.positions) for p in parts[:-1]])
    positions = np.concatenate([p.positions for p in parts])
    normals = np.concatenate([p.normals for p in parts])
    lo, hi = SHADE
    shade = lo + (hi - lo) * (normals[:, 1] + 1) / 2
    colors = np.concatenate([p.colors for p in parts]) * shade[:, None]
    return Mesh(positions=_fit(positions, PRESETS[preset].boxwarp, bust, t.height).astype(np.float32),
                faces=np.concatenate([p.faces + o for p, o in zip(parts, offsets)]).astype(np.int32),
                colors=np.concatenate([colors, np.ones((len(colors), 1))], 1).astype(np.float32))


def build_character(char_id: str, preset: str) -> Mesh:
    """The mesh of one character (body or head preset), fully determined by its id."""
    return character_mesh(sample_traits(np.random.default_rng(int(char_id))), preset)
