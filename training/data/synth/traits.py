"""A procedural character's random choices (Traits) and their distribution (sample_traits).

The distribution follows what real model sheets show: T-pose, A-pose or arms down; proportions from
chibi (2.5 heads tall) to realistic (8); pale skin and white or pale main garments often enough
(the renders are composited on white, so "light" must not mean "background"); plain, striped,
dotted or checked fabrics with contrasting trims; and at least one detail seen only from the front
(the face, a tie, ribbon or buttons) and one seen only from the back (a backpack, cape, hood, bow
or sailor collar; the hair's back pattern), so the back view is never the mirrored front.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from training.data.synth.primitives import Color

POSES = {"t_pose": (80.0, 90.0), "a_pose": (30.0, 50.0), "arms_down": (4.0, 12.0)}  # arm angle from vertical
HEADS_TALL = (2.5, 8.0)  # chibi .. realistic
HAIR_STYLES = ("short", "bob", "long", "twin_tails", "ponytail", "twin_buns", "bun")
HAIR_PATTERNS = ("stripes", "streaks", "chevron")
OUTFITS = ("skirt", "dress", "trousers", "shorts", "coat")
SLEEVES = ("none", "short", "long")
PATTERNS = ("plain", "stripes", "dots", "checks")
HATS = ("none", "cap", "beret", "ears")
FRONT_DETAILS = ("tie", "ribbon", "buttons")
BACK_DETAILS = ("backpack", "cape", "hood", "waist_bow", "sailor_collar")
SKIN_TONES = ((1.0, 0.96, 0.94), (1.0, 0.93, 0.89), (1.0, 0.89, 0.82), (0.98, 0.82, 0.70), (0.87, 0.68, 0.53),
              (0.62, 0.45, 0.34))
PALE_SKIN = 2  # the first two tones are very pale
PALE_MAIN_GARMENT = 0.27  # share of characters whose main garment (top, dress or coat) is white or pale


@dataclass(frozen=True)
class Fabric:
    """A garment's look: its colour, a pattern in a second colour, the pattern's period (head units)."""

    base: Color
    pattern: str
    second: Color
    scale: float


@dataclass(frozen=True)
class Traits:
    """A character's random choices; everything else follows from them (skeleton.Skeleton.of)."""

    heads_tall: float
    height: float  # fraction of the body box the character fills
    head: tuple[float, float, float]
    shoulder: float
    hip: float
    limb: float
    legs: float  # -1 .. 1: shorter .. longer legs than usual at these proportions
    pose: str
    arm_raise: float  # 0 .. 1 within the pose's range of arm angles
    leg_spread: float  # degrees each leg leans out
    skin: Color
    hair: Color
    hair2: Color
    eyes: Color
    top: Fabric  # also the dress
    bottom: Fabric
    outer: Fabric  # the coat
    socks: Color
    shoes: Color
    accent: Color
    trim: Color | None  # a contrasting band at collar, cuffs and hems
    collar: Color
    outfit: str
    sleeves: str
    hair_style: str
    hair_length: float  # 0 .. 1: from the chin to the hips
    hair_pattern: str
    ahoge: bool
    hat: str
    front: str
    back: str
    head_bow: bool
    blush: bool

    @property
    def main(self) -> Fabric:
        """The garment that covers most of the figure."""
        return self.outer if self.outfit == "coat" else self.top


def _hsv(h: float, s: float, v: float) -> Color:
    return colorsys.hsv_to_rgb(h % 1.0, s, v)


def _pale(rng: np.random.Generator) -> Color:
    return _hsv(rng.uniform(), rng.uniform(0.0, 0.08), rng.uniform(0.95, 1.0))


def _contrast(rng: np.random.Generator, base: Color) -> Color:
    """A colour that stands out against base: pale on dark, dark or saturated on light."""
    if max(base) > 0.7 and min(base) > 0.45:
        return _hsv(rng.uniform(), rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.75))
    return _pale(rng) if rng.random() < 0.6 else _hsv(rng.uniform(), rng.uniform(0.6, 1.0), rng.uniform(0.85, 1.0))


def _fabric(rng: np.random.Generator, base: Color) -> Fabric:
    pattern = str(rng.choice(PATTERNS, p=[0.6, 0.4 / 3, 0.4 / 3, 0.4 / 3]))
    return Fabric(base, pattern, _contrast(rng, base), rng.uniform(0.3, 0.5))


def _hat(rng: np.random.Generator, hair_style: str) -> str:
    """About half wear one; twin buns leave room for ears only."""
    hat = str(rng.choice(HATS, p=[0.46, 0.18, 0.18, 0.18]))
    return "none" if hair_style == "twin_buns" and hat in ("cap", "beret") else hat


def sample_traits(rng: np.random.Generator) -> Traits:
    """Draw one character's traits."""
    u = rng.uniform
    outfit = str(rng.choice(OUTFITS))
    pale_main = rng.random() < PALE_MAIN_GARMENT
    top = _fabric(rng, _pale(rng) if pale_main and outfit != "coat" else _hsv(u(), u(0.0, 0.8), u(0.4, 1.0)))
    outer = _fabric(rng, _pale(rng) if pale_main and outfit == "coat" else _hsv(u(), u(0.1, 0.6), u(0.25, 0.7)))
    hair_hue = u()
    silver = rng.random() < 0.12
    hair = _hsv(hair_hue, u(0.0, 0.12), u(0.85, 1.0)) if silver else _hsv(hair_hue, u(0.2, 0.8), u(0.35, 1.0))
    hair_style = str(rng.choice(HAIR_STYLES))
    pale_skin = rng.random() < 0.35
    return Traits(
        heads_tall=u(*HEADS_TALL), height=u(0.78, 0.9), head=(u(0.95, 1.05), u(1.0, 1.12), u(0.9, 1.0)),
        shoulder=u(1.0, 1.45), hip=u(0.85, 1.25), limb=u(0.24, 0.34), legs=u(-1.0, 1.0),
        pose=str(rng.choice(list(POSES))), arm_raise=u(), leg_spread=u(0.0, 8.0),
        skin=SKIN_TONES[rng.integers(PALE_SKIN) if pale_skin else rng.integers(PALE_SKIN, len(SKIN_TONES))],
        hair=hair, hair2=_hsv(hair_hue + u(0.3, 0.7), u(0.5, 0.9), u(0.7, 1.0)),
        eyes=_hsv(u(), u(0.6, 1.0), u(0.5, 0.9)),
        top=top, bottom=_fabric(rng, _hsv(u(), u(0.2, 0.9), u(0.2, 0.8))), outer=outer,
        socks=_pale(rng) if rng.random() < 0.4 else _hsv(u(), u(0.0, 0.7), u(0.1, 0.6)),
        shoes=_hsv(u(), u(0.0, 0.7), u(0.1, 0.6)), accent=_hsv(u(), u(0.7, 1.0), u(0.8, 1.0)),
        trim=_contrast(rng, top.base) if rng.random() < 0.5 else None, collar=_hsv(u(), u(0.0, 0.3), u(0.85, 1.0)),
        outfit=outfit, sleeves=str(rng.choice(SLEEVES, p=[0.2, 0.4, 0.4])),
        hair_style=hair_style, hair_length=u(), hair_pattern=str(rng.choice(HAIR_PATTERNS)),
        ahoge=bool(rng.random() < 0.35), hat=_hat(rng, hair_style), front=str(rng.choice(FRONT_DETAILS)),
        back=str(rng.choice([b for b in BACK_DETAILS if outfit != "coat" or b != "cape"])),
        head_bow=bool(rng.random() < 0.3 and hair_style != "bun"), blush=bool(rng.random() < 0.5))
