"""NOVA-3D losses, as four phases the training loop runs (StyleGAN2's lazy regularisation scheme).

G main: non-saturating GAN on random views + reconstruction at the four ortho views (and, with
        recon_random_views, at the random views too):
        perceptual (LPIPS, AlexNet) x20 + L1 x4 on the final image, L1 x4 on the raw render,
        alpha L2 x1 with a band around the mask edge excluded (the silhouette edge of a 128 px render
        is ambiguous by a pixel or two and would otherwise dominate), xyz L2 x1000 on foreground pixels.
G recon: G main without the GAN term and without D: the reconstruction warm-up (TrainConfig.recon_warmup_kimg).
G reg:  density regularisation: L1 between sigma at random box points and at jittered copies, x0.5,
        every 4 steps (scaled by the interval, as lazy regularisation does).
D main: non-saturating GAN: softplus(D(fake)) + softplus(-D(real)).
D reg:  R1 on real data every 16 steps: gamma 5 for the image (and raw image), 1 for the mask branch.
Both regularisers run in float32 whatever autocast the caller has on (on any device): R1 is a double
backward of D and the density term a difference of nearby sigmas, and bf16 rounds both to noise.
Each phase trains one network; PhaseModule gives DistributedDataParallel only that network's parameters.
Images are in [-1, 1]; targets come from the dataset (training/data/dataset.py) at the final image size.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from training.model.discriminator import DualDiscriminator
from training.model.triplane import GeneratorOutput, NovaGenerator

PHASES = ("G_main", "G_recon", "G_reg", "D_main", "D_reg")
G_PHASES = ("G_main", "G_recon", "G_reg")  # the phases that train G; D_main and D_reg train D


@dataclass
class LossConfig:
    gan_weight: float = 1.0
    lpips_weight: float = 20.0
    l1_weight: float = 4.0
    alpha_weight: float = 1.0
    xyz_weight: float = 1000.0
    edge_band: int = 2  # pixels (at the neural resolution) on each side of the mask edge left out of alpha L2
    density_reg: float = 0.5
    density_reg_interval: int = 4
    density_reg_points: int = 1000
    density_reg_jitter: float = 0.004  # of the box width
    r1_gamma: float = 5.0
    r1_gamma_mask: float = 1.0
    r1_interval: int = 16
    # the random views (the GAN's cameras) get the reconstruction losses too: more supervised views per
    # plane computation (the planes are the expensive part), and views between the four ortho ones
    recon_random_views: bool = False


def edge_band_mask(mask: torch.Tensor, band: int) -> torch.Tensor:
    """1 where a pixel is further than `band` pixels from the mask edge, 0 inside the band."""
    if band <= 0:
        return torch.ones_like(mask)
    k = 2 * band + 1
    dilated = F.max_pool2d(mask, k, stride=1, padding=band)
    eroded = -F.max_pool2d(-mask, k, stride=1, padding=band)
    return 1 - (dilated - eroded)


def masked_mean(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-sample weighted mean over (C, H, W): (B,) so batch means do not depend on how a batch is split."""
    return (x * weight).sum(dim=[1, 2, 3]) / weight.expand_as(x).sum(dim=[1, 2, 3]).clamp(min=1)


def downsample(x: torch.Tensor, size: int, nearest: bool = False) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="nearest-exact" if nearest else "area")


def in_float32(phase: Callable) -> Callable:
    """A NovaLoss phase with autocast off on the batch's device, so it runs in float32 under bf16 training."""

    @functools.wraps(phase)
    def run(self, batch: dict, *args):
        with torch.autocast(batch["cond_front"].device.type, enabled=False):
            return phase(self, batch, *args)

    return run


class NovaLoss(nn.Module):
    """G and D together, so one DistributedDataParallel wrapper syncs every phase's gradients.

    forward(phase, batch, z, reg_noise) returns (scalar loss, stats dict); the loop backpropagates and
    steps. The loop draws z and the density-regulariser noise for the whole global batch from one
    seeded generator and hands each rank its slice, so a run does not depend on how it is distributed.
    """

    def __init__(self, G: NovaGenerator, D: DualDiscriminator, cfg: LossConfig,
                 perceptual: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], noise_mode: str = "random"):
        super().__init__()
        self.G, self.D, self.cfg, self.perceptual, self.noise_mode = G, D, cfg, perceptual, noise_mode

    def forward(self, phase: str, batch: dict, z: torch.Tensor,
                reg_noise: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if phase == "G_main":
            return self.generator_main(batch, z)
        if phase == "G_recon":
            return self.generator_main(batch, z, adversarial=False)
        if phase == "G_reg":
            return self.density_regularisation(batch, z, reg_noise)
        if phase == "D_main":
            return self.discriminator_main(batch, z)
        if phase == "D_reg":
            return self.r1_penalty(batch)
        raise ValueError(f"unknown phase {phase!r}; one of {PHASES}")

    def _generate(self, batch: dict, z: torch.Tensor, labels: torch.Tensor) -> GeneratorOutput:
        return self.G(batch["cond_front"], batch["cond_back"], labels, z=z, feat_front=batch.get("feat_front"),
                      feat_back=batch.get("feat_back"), noise_mode=self.noise_mode, update_emas=True)

    def _d_logits(self, image: torch.Tensor, raw: torch.Tensor, label: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return self.D(image, raw, label, alpha if self.D.cfg.mask_d else None)

    def generator_main(self, batch: dict, z: torch.Tensor,
                       adversarial: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        ortho_labels, view_labels = batch["ortho_label"], batch["views_label"]
        n_ortho = ortho_labels.shape[1]
        if not (adversarial or cfg.recon_random_views):  # nothing needs the random views rendered
            view_labels = view_labels[:, :0]
        out = self._generate(batch, z, torch.cat([ortho_labels, view_labels], 1))
        views = n_ortho + view_labels.shape[1]

        def split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            x = x.unflatten(0, (-1, views))
            return x[:, :n_ortho].flatten(0, 1), x[:, n_ortho:].flatten(0, 1)

        (o_img, v_img), (o_raw, v_raw), (o_alpha, v_alpha), (o_xyz, v_xyz) = (
            split(out.image), split(out.image_raw), split(out.alpha), split(out.xyz))
        stats = self.reconstruction(o_img, o_raw, o_alpha, o_xyz, batch, "ortho")
        if cfg.recon_random_views:
            extra = self.reconstruction(v_img, v_raw, v_alpha, v_xyz, batch, "views")
            stats = {k: (stats[k] * n_ortho + extra[k] * (views - n_ortho)) / views for k in stats}
        loss = stats["G_recon"]
        if adversarial:
            gan = F.softplus(-self._d_logits(v_img, v_raw, view_labels.flatten(0, 1), v_alpha)).mean()
            loss = loss + cfg.gan_weight * gan
            stats["G_gan"] = gan
        return loss, stats

    def reconstruction(self, img: torch.Tensor, raw: torch.Tensor, alpha: torch.Tensor, xyz: torch.Tensor,
                       batch: dict, prefix: str) -> dict[str, torch.Tensor]:
        """The weighted reconstruction terms (G_recon) and each term, against batch[prefix + "_rgb"] etc.

        img (N, 3, H, W), raw/alpha/xyz at the neural resolution, N = batch x views of that prefix."""
        cfg = self.cfg
        res = raw.shape[-1]
        target = downsample(batch[f"{prefix}_rgb"].flatten(0, 1), img.shape[-1])
        mask = downsample(batch[f"{prefix}_mask"].flatten(0, 1), res)
        xyz_t = downsample(batch[f"{prefix}_xyz"].flatten(0, 1), res, nearest=True)
        fg = (downsample(batch[f"{prefix}_alpha"].flatten(0, 1), res, nearest=True) > 0.5).to(xyz.dtype)
        l1 = (img - target).abs().mean() + (raw - downsample(target, res)).abs().mean()
        perceptual = self.perceptual(img, target).mean()
        keep = edge_band_mask((mask > 0.5).to(mask.dtype), cfg.edge_band)
        alpha_l2 = masked_mean((alpha - mask).square(), keep).mean()
        xyz_l2 = masked_mean((xyz - xyz_t).square().sum(1, keepdim=True), fg).mean()
        recon = (cfg.lpips_weight * perceptual + cfg.l1_weight * l1 + cfg.alpha_weight * alpha_l2
                 + cfg.xyz_weight * xyz_l2)
        return {"G_lpips": perceptual, "G_l1": l1, "G_alpha": alpha_l2, "G_xyz": xyz_l2, "G_recon": recon}

    def draw_reg_noise(self, batch: int, gen: torch.Generator) -> torch.Tensor:
        """Box positions (uniform), jitter and directions (normal) for the density regulariser, (B, 3, P, 3)."""
        n = self.cfg.density_reg_points
        return torch.cat([torch.rand(batch, 1, n, 3, generator=gen), torch.randn(batch, 2, n, 3, generator=gen)], 1)

    @in_float32
    def density_regularisation(self, batch: dict, z: torch.Tensor,
                               noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """noise (B, 3, P, 3): [0] uniform in [0, 1), [1] and [2] standard normal."""
        G, cfg = self.G, self.cfg
        ws = G.mapping(z)
        planes = G.make_planes(batch["cond_front"], batch["cond_back"], ws, batch.get("feat_front"),
                               batch.get("feat_back"), self.noise_mode)
        box = G.cfg.box_warp
        points = (noise[:, 0] - 0.5) * box
        jittered = points + noise[:, 1] * cfg.density_reg_jitter * box
        directions = F.normalize(noise[:, 2], dim=-1)
        field = G.field(planes)
        sigma, _ = field(torch.cat([points, jittered], 1), torch.cat([directions, directions], 1))
        a, b = sigma.chunk(2, dim=1)
        reg = (a - b).abs().mean()
        return reg * cfg.density_reg * cfg.density_reg_interval, {"G_density": reg}

    def discriminator_main(self, batch: dict, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        labels = batch["views_label"]
        with torch.no_grad():
            fake = self._generate(batch, z, labels)
        flat = labels.flatten(0, 1)
        fake_logits = self._d_logits(fake.image, fake.image_raw, flat, fake.alpha)
        real_img, real_raw, real_mask = self._real(batch, fake.image.shape[-1], fake.image_raw.shape[-1])
        real_logits = self._d_logits(real_img, real_raw, flat, real_mask)
        loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
        return loss, {"D_loss": loss, "D_real": real_logits.mean(), "D_fake": fake_logits.mean()}

    @in_float32
    def r1_penalty(self, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        labels = batch["views_label"].flatten(0, 1)
        res_raw = self.G.cfg.neural_resolution
        real_img, real_raw, real_mask = (x.detach().requires_grad_(True)
                                         for x in self._real(batch, self.D.cfg.img_resolution, res_raw))
        logits = self._d_logits(real_img, real_raw, labels, real_mask)
        inputs = [real_img, real_raw] + ([real_mask] if self.D.cfg.mask_d else [])
        grads = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
        r1_image = sum(g.square().sum(dim=[1, 2, 3]) for g in grads[:2])
        penalty = cfg.r1_gamma / 2 * r1_image
        stats = {"D_r1": r1_image.mean()}
        if self.D.cfg.mask_d:
            r1_mask = grads[2].square().sum(dim=[1, 2, 3])
            penalty = penalty + cfg.r1_gamma_mask / 2 * r1_mask
            stats["D_r1_mask"] = r1_mask.mean()
        # the logits term keeps every D parameter in the graph (DDP expects each to get a gradient)
        loss = (penalty.mean() + logits.mean() * 0) * cfg.r1_interval
        return loss, stats

    @staticmethod
    def _real(batch: dict, img_res: int, raw_res: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rgb = batch["views_rgb"].flatten(0, 1)
        return downsample(rgb, img_res), downsample(rgb, raw_res), downsample(batch["views_mask"].flatten(0, 1), raw_res)


class PhaseModule(nn.Module):
    """The phases of a NovaLoss that train one of its networks, with only that network registered.

    Wrapped in DistributedDataParallel, backward all-reduces the trained network's gradients only; the
    loop turns the other network's requires_grad off in these phases, so its weight gradients are
    neither computed nor synchronised (they would be thrown away).
    """

    def __init__(self, loss: NovaLoss, trained: nn.Module):
        super().__init__()
        self.trained = trained
        self._loss = (loss,)  # a tuple keeps the loss (and the other network) out of this module's parameters

    def forward(self, phase: str, batch: dict, z: torch.Tensor,
                reg_noise: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self._loss[0](phase, batch, z, reg_noise)
