"""The training run's settings (TrainConfig, one field per flag of _train.train) and how a resumed run's
settings are decided from its snapshot's. Device-dependent defaults are resolved where the device is known
(effective_render_chunk)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch

from dnnlib import dataclass_from_dict
from training.model.encoder import EncoderKind
from training.model.fusion import FusionMode
from training.train.distributed import Device
from training.train.loss import LossConfig
from training.train.presets import ModelPreset

AmpMode = Literal["auto", "bf16", "off"]  # the --amp choices
RUN_LENGTH_FIELDS = ("kimg", "minutes", "tick_kimg", "snap_ticks", "workers", "device", "full_check")  # a resume may change these freely
# the networks' shapes follow these: a snapshot's weights fit only its own values, even with --override-config
NETWORK_FIELDS = ("preset", "fusion", "encoder", "mask_d", "superresolution", "use_features", "neural_resolution")


@dataclass
class TrainConfig:
    run_dir: str
    data: str  # data root holding renders/ and subsets/
    extra_data: tuple[str, ...] = ()  # more data roots trained on together with `data` (e.g. real characters)
    data_weights: tuple[float, ...] = ()  # sampling weight of each root (data, *extra_data); () = by size
    preset: ModelPreset = "tiny"  # tiny uses the body data layout
    data_preset: str = ""  # a key of training.data.layout.PRESETS; default: the model preset's
    fusion: FusionMode = "attention"
    encoder: EncoderKind = "pat"
    mask_d: bool = True
    superresolution: bool = True
    neural_resolution: int | None = None  # G's render size (rays per side); None: the preset's (tiny/small 32,
    # body/head the paper's 96). At 64 px without super-resolution a 32^2 render caps PSNR (docs/RESULTS.md)
    use_features: bool = False
    batch: int = 4  # global batch over all processes
    kimg: float = 1.0  # length of training in thousands of images
    minutes: float = 0.0  # also stop (tick, snapshot) at the first step after this much training wall time in this
    # process, the data check and model build not counted; 0: no limit. A CPU budget ("an hour of training")
    # the first images train G on the reconstruction losses alone (G_recon, no D steps): on a small budget
    # the adversarial loss only adds noise until the planes reproduce the inputs (docs/RESULTS.md)
    recon_warmup_kimg: float = 0.0
    views_per_item: int = 1  # random views per character and step (the GAN's cameras; with
    # loss.recon_random_views also reconstruction targets)
    tick_kimg: float = 0.2
    snap_ticks: int = 5
    lr_g: float = 0.0025  # StyleGAN's Adam lr, for G's equalised-lr layers (mapping, backbone, superresolution)
    lr_d: float = 0.001
    # G's plain PyTorch layers store their weights at their working scale (~1/sqrt(fan_in)), where the
    # equalised-lr layers store N(0, 1) and scale at run time, so the same Adam step is ~sqrt(fan_in)
    # times larger relative to their weights (and 250x the encoder's layer-scale init of 1e-5 in one
    # step). Their lr is lr_g times these. Measured (tiny preset with 3 x 16 planes, 12 synthetic characters
    # at 64 px, batch 2, 40 images, CPU): G_recon per step with all three at 1.0 vs 0.1 followed the same
    # curve within batch noise (57.0 -> last five 49.5 vs 51.1), neither diverged; so 1.0 stays until a
    # longer run (>= 1 kimg of body) shows a difference. Set them per run to compare.
    encoder_lr_mult: float = 1.0  # the PAT encoder (convolutions, norms, layer scales)
    fusion_lr_mult: float = 1.0  # the front/back fusion (unit_linear tokens, attention, view embedding)
    decoder_lr_mult: float = 1.0  # the decoder MLP (unit_linear)
    betas: tuple[float, float] = (0.0, 0.99)
    ema_kimg: float = 10.0
    ema_rampup: float | None = 0.05
    grad_clip: float | None = None
    noise_mode: str = "random"  # SynthesisLayer noise during training: random | const
    ray_jitter: bool = True  # stratified jitter of the ray samples during training
    mirror: bool = True
    workers: int = 2
    seed: int = 0
    device: Device = "auto"
    # bf16 autocast of the main phases: auto = on CUDA only (bf16 is slower than float32 on most CPUs),
    # bf16 = on any device, off = float32. The regularisers always run in float32 (training/train/loss.py).
    amp: AmpMode = "auto"
    mbstd_group: int | None = None  # override D's minibatch-std group size
    render_chunk: int | None = None  # rays per chunk when G renders with gradients, each chunk recomputed in
    # backward (the renderer's recompute); 0: all rays at once; None: by device (effective_render_chunk)
    n_sample_chars: int = 4
    resume_d: str = ""  # initialise D from this snapshot or D state dict (a fresh run only; --resume-d)
    strict: bool = False  # missing LPIPS weights are an error instead of the L1 + (1 - MS-SSIM) substitute
    full_check: bool = False  # decode every image of the train and val splits before training, not only headers
    loss: LossConfig = field(default_factory=LossConfig)


CPU_RENDER_CHUNK = 4096


def effective_render_chunk(chunk: int | None, device: torch.device) -> int:
    """The G render chunk a run uses: `chunk` where given, else CPU_RENDER_CHUNK on CPU and 0 on CUDA.

    On CPU the chunked, recomputed render is what keeps a G step within the original's peak memory (body, the
    paper's config: 0.98x chunked, 1.31x unchunked, since the kept-for-reuse heap fragments) while still
    well over 1.3x faster than it (docs/PERFORMANCE.md). On a GPU recompute costs time and nothing is
    measured yet, so CUDA keeps all rays at once (--render-chunk N to lower memory there).
    """
    if chunk is not None:
        return chunk
    return 0 if device.type == "cuda" else CPU_RENDER_CHUNK


class ResumeConflict(ValueError):
    """Settings given for a resumed run differ from its snapshot's training config."""


def resumed_config(state: dict, requested: TrainConfig, given: dict[str, str], override: bool) -> TrainConfig:
    """The config a resumed run continues with: the snapshot's training config, in requested.run_dir.

    given maps the fields the user set (nested ones as "loss.r1_gamma") to their flags. Those in
    RUN_LENGTH_FIELDS replace the snapshot's values; any other that differs is a ResumeConflict naming
    every such flag in one line, unless override, which takes the given values; a flag in NETWORK_FIELDS
    that differs is a ResumeConflict even then (the snapshot's weights would not fit the networks).
    """
    saved = json.loads(state["train_config"])
    if isinstance(saved.get("amp"), bool):  # snapshots from before --amp took a mode
        saved["amp"] = "auto" if saved["amp"] else "off"
    saved = asdict(dataclass_from_dict(TrainConfig, saved))
    wanted = asdict(requested)

    def parent(config: dict, key: str) -> tuple[dict, str]:
        *path, last = key.split(".")
        for part in path:
            config = config[part]
        return config, last

    def value(config: dict, key: str) -> object:
        holder, last = parent(config, key)
        return holder[last]

    differing = [key for key in given if key not in RUN_LENGTH_FIELDS and value(wanted, key) != value(saved, key)]

    def described(keys: list[str]) -> str:
        return "; ".join(f"{given[key]} {value(wanted, key)!r} (snapshot: {value(saved, key)!r})" for key in keys)

    networks = [key for key in differing if key in NETWORK_FIELDS]
    if networks and override:
        raise ResumeConflict(f"--resume: {described(networks)} would change the networks, which the snapshot's "
                             f"weights must fit; leave them out, or start a new run")
    if differing and not override:
        raise ResumeConflict(f"--resume: {described(differing)} differ from the snapshot's training config; leave "
                             f"them out to continue its run, or pass --override-config to change them")
    for key in given:
        holder, last = parent(saved, key)
        holder[last] = value(wanted, key)
    saved["run_dir"] = requested.run_dir
    return dataclass_from_dict(TrainConfig, saved)
