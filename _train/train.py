"""Train NOVA-3D.

    python -m _train.train --name NAME --data _data/lustrous --preset body [options]
    torchrun --nproc_per_node=8 -m _train.train ...              (one process per GPU)
    torchrun --nnodes=2 --node_rank=R --rdzv_endpoint=HOST:29500 --nproc_per_node=8 -m _train.train ...

Runs are written to OUTDIR/NAME/RUN (RUN = 00000, 00001, ...): config.json, metrics.jsonl (one line per
tick), network-snapshot-<kimg>.pt and samples-<kimg>.png (a later snapshot within the same whole kimg is
<kimg>.<images past it>, e.g. 000000.008). The inference scripts find a snapshot by the query NAME-RUN-KIMG.
Before any compute the train and val splits are checked (the checks of _scripts.data.check on every
character: headers, sizes, colour types, meta entries and cameras; --full-check decodes every image too;
a pass is remembered in the data root, so a restart does not check again) and every problem is listed;
train must have characters, val may be empty (the sample grids then show train characters).
The run folder is created once the data has passed and its first batch has been read. --resume takes a
run folder (its newest snapshot) or a snapshot file and continues in that folder exactly where it
stopped, with the snapshot's training config: --kimg, --minutes, --tick, --snap, --workers, --device and
--full-check may change; any other flag that differs from the snapshot's value is refused (exit 2)
unless --override-config, and even then the flags that shape the networks (--preset, --fusion,
--encoder, --mask-d, --sr, --use-features, --neural-res). --resume-d starts D of a new run from a snapshot or a D
state dict (never downloaded). Ablations are switches: --fusion, --encoder, --no-mask-d, --no-sr.
Exit codes: 0 done, 1 the work failed (out of memory, disk full), 2 bad usage or bad input (README).
"""
from __future__ import annotations

from pathlib import Path
from typing import get_args

import click
from click.core import ParameterSource

from _scripts.errors import OneLineErrors, writable_folder
from torch_utils.cpu_memory import keep_freed_memory
from training.data.layout import PRESETS as DATA_PRESETS
from training.model.encoder import EncoderKind
from training.model.fusion import FusionMode
from training.train.distributed import Device, uses_cuda
from training.train.config import CPU_RENDER_CHUNK, AmpMode, TrainConfig, resumed_config
from training.train.loop import train
from training.data.mix import parse_weights
from training.train.loss import LossConfig
from training.train.presets import MODEL_PRESETS
from training.train.runs import default_runs_root, next_run_folder
from training.train.snapshot import load_snapshot, resolve_snapshot

# The ablation switches, the device and the optimiser settings take their choices and defaults from the
# config types (TrainConfig, LossConfig and the model configs' Literal types), so they are defined once.
# The run-size options (--preset, --batch, --kimg, ...) keep the paper's defaults; TrainConfig's are test-sized.
NOT_CONFIG = ("name", "outdir", "resume", "override_config", "dry_run")  # flags that are no TrainConfig field
FIELD_OF_PARAM = {"gamma": "loss.r1_gamma", "gamma_mask": "loss.r1_gamma_mask",
                  "recon_random_views": "loss.recon_random_views", "l1_weight": "loss.l1_weight",
                  "lpips_weight": "loss.lpips_weight", "alpha_weight": "loss.alpha_weight",
                  "xyz_weight": "loss.xyz_weight"}


def given_fields(ctx: click.Context) -> dict[str, str]:
    """TrainConfig fields set on the command line (nested as "loss.r1_gamma") -> their flag."""
    return {FIELD_OF_PARAM.get(p.name, p.name): p.opts[0] for p in ctx.command.params
            if p.name not in NOT_CONFIG and ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE}


@click.command(cls=OneLineErrors, help=__doc__, context_settings={"show_default": True, "max_content_width": 110})
@click.option("--name", required=True, help="Run name (the NAME of NAME-RUN-KIMG queries).")
@click.option("--data", "data", type=click.Path(path_type=Path), multiple=True, default=[Path("_data/lustrous")],
              help="Data root holding renders/ and subsets/; repeat it to train on several roots together.")
@click.option("--data-weights", default="", help="Sampling weight per --data root, comma-separated (e.g. 0.7,0.3); "
              "default: in proportion to their training characters.")
@click.option("--preset", type=click.Choice(MODEL_PRESETS), default="body", help="Model preset (tiny: CPU demo/tests).")
@click.option("--data-preset", type=click.Choice(["", *DATA_PRESETS]), default=TrainConfig.data_preset,
              help="Dataset preset; default: the model preset's (tiny -> body).")
@click.option("--outdir", type=click.Path(path_type=Path), default=None,
              help="Where runs go (default: $PROJECT_DN/_train/eg3dc/runs, where --inferquery looks).")
@click.option("--batch", type=int, default=16, help="Global batch over all processes (paper: 16 body, 8 head).")
@click.option("--kimg", type=float, default=25000, help="Training length in thousands of images.")
@click.option("--minutes", type=click.FloatRange(min=0), default=TrainConfig.minutes,
              help="Also stop, with a snapshot, once training has run this many minutes in this process (0: no limit).")
@click.option("--tick", "tick_kimg", type=float, default=4, help="Progress line every this many kimg.")
@click.option("--snap", "snap_ticks", type=int, default=10, help="Snapshot and sample grid every this many ticks.")
@click.option("--fusion", type=click.Choice(get_args(FusionMode)), default=TrainConfig.fusion)
@click.option("--encoder", type=click.Choice(get_args(EncoderKind)), default=TrainConfig.encoder)
@click.option("--mask-d/--no-mask-d", default=TrainConfig.mask_d, help="Discriminator mask branch.")
@click.option("--sr/--no-sr", "superresolution", default=TrainConfig.superresolution, help="Super-resolution module.")
@click.option("--neural-res", "neural_resolution", type=click.IntRange(min=8), default=TrainConfig.neural_resolution,
              help="G's render size, rays per side (default: the preset's: tiny/small 32, body/head 96).")
@click.option("--use-features", is_flag=True, help="Add the dataset's ortho_katepca_chonk features at 8x8.")
@click.option("--render-chunk", type=click.IntRange(min=0), default=TrainConfig.render_chunk,
              help=f"G renders N rays per chunk, each recomputed in backward: less memory (0: all rays at once; "
                   f"default {CPU_RENDER_CHUNK} on CPU and 0 on CUDA).")
@click.option("--recon-warmup", "recon_warmup_kimg", type=float, default=TrainConfig.recon_warmup_kimg,
              help="First kimg on the reconstruction losses only (no GAN, no D steps).")
@click.option("--views-per-item", type=int, default=TrainConfig.views_per_item,
              help="Random views per character and step (GAN cameras; reconstruction targets with --recon-views).")
@click.option("--recon-views/--no-recon-views", "recon_random_views", default=LossConfig.recon_random_views,
              help="Reconstruction losses on the random views too, not only the four ortho views.")
@click.option("--lr-g", type=float, default=TrainConfig.lr_g)
@click.option("--lr-d", type=float, default=TrainConfig.lr_d)
@click.option("--betas", type=(float, float), default=TrainConfig.betas, help="Adam's betas for G and D.")
@click.option("--l1-weight", type=float, default=LossConfig.l1_weight, help="L1 reconstruction weight.")
@click.option("--lpips-weight", type=float, default=LossConfig.lpips_weight, help="Perceptual reconstruction weight.")
@click.option("--alpha-weight", type=float, default=LossConfig.alpha_weight, help="Silhouette (alpha L2) weight.")
@click.option("--xyz-weight", type=float, default=LossConfig.xyz_weight, help="Surface position (xyz L2) weight.")
@click.option("--gamma", type=float, default=LossConfig.r1_gamma, help="R1 weight on the image.")
@click.option("--gamma-mask", type=float, default=LossConfig.r1_gamma_mask, help="R1 weight on the mask branch.")
@click.option("--resume", type=click.Path(path_type=Path), default=None,
              help="Run folder or snapshot to continue, with its training config.")
@click.option("--override-config", is_flag=True,
              help="With --resume: flags that differ from the snapshot's training config replace it.")
@click.option("--resume-d", default=TrainConfig.resume_d,
              help="Start D from this snapshot (its D) or D state dict, mapped by name (a new run).")
@click.option("--strict", is_flag=True, help="Missing LPIPS weights are an error (no L1 + MS-SSIM substitute).")
@click.option("--full-check", is_flag=True,
              help="Before training, decode every image of the train and val splits, not only its header.")
@click.option("--seed", type=int, default=TrainConfig.seed)
@click.option("--workers", type=int, default=TrainConfig.workers, help="Data-loading processes per GPU/process.")
@click.option("--device", type=click.Choice(get_args(Device)), default=TrainConfig.device)
@click.option("--amp", type=click.Choice(get_args(AmpMode)), default=TrainConfig.amp,
              help="bf16 autocast of the main phases: auto = on CUDA; regularisers stay float32.")
@click.option("--reuse-memory/--no-reuse-memory", default=True,
              help="On CPU: keep freed memory for reuse instead of handing large blocks back to the system "
              "(glibc's malloc; torch_utils/cpu_memory.py): about a third faster G steps at the paper config, "
              "about 1 GB more peak memory.")
@click.option("--dry-run", is_flag=True, help="Print the resolved configuration and exit.")
def main(name: str, data: tuple[Path, ...], data_weights: str, preset: str, data_preset: str, outdir: Path | None,
         batch: int, kimg: float, minutes: float,
         tick_kimg: float, snap_ticks: int, fusion: str, encoder: str, mask_d: bool, superresolution: bool,
         use_features: bool, neural_resolution: int | None, render_chunk: int, recon_warmup_kimg: float, views_per_item: int, recon_random_views: bool, lr_g: float,
         lr_d: float, betas: tuple[float, float], l1_weight: float, lpips_weight: float, alpha_weight: float,
         xyz_weight: float, gamma: float, gamma_mask: float, resume: Path | None,
         override_config: bool, resume_d: str, strict: bool, full_check: bool, seed: int, workers: int, device: str,
         amp: str, reuse_memory: bool, dry_run: bool) -> None:
    state = None
    if resume is not None:
        resume = resolve_snapshot(resume)
        state = load_snapshot(resume)
        run_dir = writable_folder(resume.parent, "--resume")
    else:
        run_dir = writable_folder(next_run_folder(outdir or default_runs_root(), name), "--outdir")
    try:
        weights = parse_weights(data_weights, len(data))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--data-weights") from None
    cfg = TrainConfig(run_dir=str(run_dir), data=str(data[0]), extra_data=tuple(str(d) for d in data[1:]),
                      data_weights=weights, recon_warmup_kimg=recon_warmup_kimg, views_per_item=views_per_item,
                      preset=preset, data_preset=data_preset, fusion=fusion,
                      encoder=encoder, mask_d=mask_d, superresolution=superresolution, use_features=use_features,
                      neural_resolution=neural_resolution, render_chunk=render_chunk,
                      batch=batch, kimg=kimg, minutes=minutes, tick_kimg=tick_kimg, snap_ticks=snap_ticks,
                      lr_g=lr_g, lr_d=lr_d,
                      betas=betas,
                      seed=seed, workers=workers, device=device, amp=amp, resume_d=resume_d, strict=strict,
                      full_check=full_check,
                      loss=LossConfig(r1_gamma=gamma, r1_gamma_mask=gamma_mask, recon_random_views=recon_random_views,
                                      l1_weight=l1_weight, lpips_weight=lpips_weight, alpha_weight=alpha_weight,
                                      xyz_weight=xyz_weight))
    if state is not None:
        cfg = resumed_config(state, cfg, given_fields(click.get_current_context()), override_config)
    if dry_run:
        click.echo(cfg)
        return
    if reuse_memory and not uses_cuda(device):
        keep_freed_memory()
    click.echo(f"run folder: {run_dir}" + (f" (resuming {resume.name})" if resume else ""))
    train(cfg, state)


if __name__ == "__main__":
    main()
