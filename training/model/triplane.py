"""The NOVA-3D generator: front and back images -> two tri-plane sets -> fused field -> images.

Data path: encoder (front and back images, one batched call) -> conditioned backbone (front and back
passes with shared weights) -> per sample point, front planes sampled at p and back planes at p turned
180 degrees about y -> fusion by view direction -> decoder (sigma, features) -> volume renderer ->
super-resolution. The planes can be made once and rendered from many cameras (turntables, meshes).
At inference the latent is the mapping network's tracked mean (deterministic), not a random z.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from torch_utils.ops.triplane_sampler import triplane_sample
from training.model.backbone import BackboneConfig, ConditionedBackbone
from training.model.carving import Silhouettes, carve
from training.model.decoder import Decoder, DecoderConfig
from training.model.encoder import OUT_RESOLUTIONS, EncoderConfig, build_encoder
from training.model.fusion import FusionConfig, build_fusion
from training.model.superresolution import SuperResolution, SuperResolutionConfig
from training.model.volumetric_rendering.renderer import RenderConfig, RenderOutput, VolumeRenderer


@dataclass
class GeneratorConfig:
    """Everything G is made of; presets live in training/train/presets.py."""

    box_warp: float = 2.1
    near: float = 1.68
    far: float = 5.32
    neural_resolution: int = 128
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    render: RenderConfig | None = None  # None: RenderConfig(box_warp)
    sr: SuperResolutionConfig = field(default_factory=SuperResolutionConfig)
    use_precomputed_features: bool = False  # add released ortho_katepca_chonk 512x8x8 maps at resolution 8
    drawing_colour: bool = False
    """A point's RGB starts from the drawings' colour there: channels 0..2 of the sampled XY planes (where
    the backbone adds each drawing, path (c)) of the front and the back, weighted as the fusion weighs the
    two sides (attention: its weights, mean over heads; mean and concat: half each; front_only: front).
    The decoder predicts the change (DecoderConfig.drawing_colour). Without it the colour reaches the
    output only through five random linear maps and a 600-image CPU run still renders grey blobs; False
    in the configs of snapshots from before it."""
    carve: bool = False
    """Density where the drawings show background is removed (training/model/carving.py), for planes that
    carry the drawings' silhouettes. An inference setting (InferenceSettings.carve turns it on for every
    rendering command); training passes no silhouettes, so its renders are the field as it is."""


@dataclass
class Planes:
    """One character's two tri-plane sets (B, 3, D, C, R, R), the latents that made them and, where the
    drawings' alpha is known, their silhouettes (for GeneratorConfig.carve)."""

    front: torch.Tensor
    back: torch.Tensor | None  # None for fusion 'front_only'
    ws: torch.Tensor
    silhouettes: Silhouettes | None = None

    def expand(self, n: int) -> "Planes":
        """The planes of ONE character seen n times along the batch axis (no copy), e.g. for n cameras."""
        return self.map(lambda x: x.expand(n, *x.shape[1:]))

    def map(self, fn) -> "Planes":
        """The same planes with fn applied along the batch axis of every tensor (expand, slice, repeat)."""
        def apply(x):
            return None if x is None else (x.map(fn) if isinstance(x, Silhouettes) else fn(x))
        return Planes(front=apply(self.front), back=apply(self.back), ws=apply(self.ws),
                      silhouettes=apply(self.silhouettes))


@dataclass
class GeneratorOutput:
    image: torch.Tensor  # (B, 3, img_res, img_res) in [-1, 1]
    image_raw: torch.Tensor  # (B, 3, r, r)
    depth: torch.Tensor
    alpha: torch.Tensor
    xyz: torch.Tensor
    features: torch.Tensor  # (B, F, r, r) composited decoder features


class NovaGenerator(nn.Module):
    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.fusion.plane_channels != cfg.backbone.plane_channels:
            raise ValueError("fusion.plane_channels must equal backbone.plane_channels")
        self.encoder = build_encoder(cfg.encoder)
        enc_channels = dict(zip(OUT_RESOLUTIONS, cfg.encoder.out_channels)) if self.encoder is not None else {}
        if cfg.use_precomputed_features:
            enc_channels.setdefault(8, 512)
        self.backbone = ConditionedBackbone(cfg.backbone, enc_channels)
        self.fusion = build_fusion(cfg.fusion)
        if cfg.drawing_colour != cfg.decoder.drawing_colour:
            raise ValueError("drawing_colour must be set in both the generator and the decoder config")
        self.decoder = Decoder(cfg.decoder)
        self.renderer = VolumeRenderer(cfg.render or RenderConfig(box_warp=cfg.box_warp))
        self.superresolution = SuperResolution(cfg.sr)

    @property
    def mapping(self) -> nn.Module:
        return self.backbone.mapping

    @property
    def uses_back(self) -> bool:
        return self.cfg.fusion.mode != "front_only"

    def mean_ws(self, batch: int) -> torch.Tensor:
        return self.mapping.mean_ws(batch)

    def make_planes(self, cond_front: torch.Tensor, cond_back: torch.Tensor, ws: torch.Tensor,
                    feat_front: torch.Tensor | None = None, feat_back: torch.Tensor | None = None,
                    noise_mode: str = "random", silhouettes: Silhouettes | None = None) -> Planes:
        """Both passes of the backbone in one batch (front first); the back pass is skipped for front_only.
        silhouettes (the drawings' alpha) travel with the planes, for carving (GeneratorConfig.carve)."""
        conds = [cond_front, cond_back] if self.uses_back else [cond_front]
        cond = torch.cat(conds)
        features = self.encoder(cond) if self.encoder is not None else {}
        if self.cfg.use_precomputed_features:
            pre = torch.cat([feat_front, feat_back][:len(conds)])
            features[8] = features[8] + pre if 8 in features else pre
        planes = self.backbone(ws.repeat(len(conds), 1, 1), cond, features, noise_mode)
        bb = self.cfg.backbone
        planes = planes.unflatten(1, (3, bb.plane_depth, bb.plane_channels))
        # stored channels-last, (B, 3, R, R, D, C) in memory, as the fused sampler reads them: its calls (2 per
        # plane set and render, more with render chunks) then take the planes as they are instead of a copy each
        planes = planes.permute(0, 1, 4, 5, 2, 3).contiguous().permute(0, 1, 4, 5, 2, 3)
        front, back = (planes.chunk(2) if self.uses_back else (planes, None))
        return Planes(front=front, back=back, ws=ws, silhouettes=silhouettes)

    def field(self, planes: Planes, return_attention: bool = False):
        """The radiance field of these planes: (points, directions) -> (sigma, features)."""
        box = self.cfg.box_warp
        hull = planes.silhouettes if self.cfg.carve else None

        def query(points: torch.Tensor, directions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            front = triplane_sample(planes.front, points, box, reduce="none")
            back = triplane_sample(planes.back, points, box, back_frame=True, reduce="none") if planes.back is not None else front
            fused = self.fusion(front, back, directions)
            sigma, features = self.decoder(fused.features, self._drawing_colour(front, back, fused.attention))
            return (sigma if hull is None else carve(sigma, points, hull)), features

        return query

    def _drawing_colour(self, front: torch.Tensor, back: torch.Tensor,
                        attention: torch.Tensor | None) -> torch.Tensor | None:
        """(B, N, 3): the sampled drawings' colour (XY plane = plane 0, channels 0..2) mixed as the fusion mixes
        the sides; front/back (B, N, 3 planes, C), attention (B, N, heads, 2) or None."""
        if not self.cfg.drawing_colour:
            return None
        scale = self.cfg.backbone.cond_scale  # path (c) adds the drawing at the backbone's condition scale
        front_rgb, back_rgb = front[..., 0, :3] / scale, back[..., 0, :3] / scale
        if attention is not None:
            w_front = attention[..., 0].mean(-1, keepdim=True)
        else:
            w_front = 1.0 if self.cfg.fusion.mode == "front_only" else 0.5
        return w_front * front_rgb + (1 - w_front) * back_rgb

    def render(self, planes: Planes, labels: torch.Tensor, resolution: int | None = None,
               noise_mode: str = "random") -> GeneratorOutput:
        """Render planes from cameras (B, 25); resolution defaults to the neural render resolution."""
        out: RenderOutput = self.renderer(self.field(planes), labels, resolution or self.cfg.neural_resolution,
                                          self.cfg.near, self.cfg.far)
        image = self.superresolution(out.features, planes.ws, noise_mode)
        return GeneratorOutput(image=image, image_raw=out.rgb, depth=out.depth, alpha=out.alpha, xyz=out.xyz,
                               features=out.features)

    def forward(self, cond_front: torch.Tensor, cond_back: torch.Tensor, labels: torch.Tensor,
                z: torch.Tensor | None = None, feat_front: torch.Tensor | None = None,
                feat_back: torch.Tensor | None = None, noise_mode: str = "random",
                update_emas: bool = False) -> GeneratorOutput:
        """labels (B, 25) or (B, V, 25) for V views of each character (planes made once per character)."""
        batch = cond_front.shape[0]
        ws = self.mapping(z, update_emas=update_emas) if z is not None else self.mean_ws(batch)
        planes = self.make_planes(cond_front, cond_back, ws, feat_front, feat_back, noise_mode)
        if labels.ndim == 3:
            views = labels.shape[1]
            planes = planes.map(lambda p: p.repeat_interleave(views, 0))
            labels = labels.flatten(0, 1)
        return self.render(planes, labels, noise_mode=noise_mode)
