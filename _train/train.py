"""Train NOVA-3D.

    python -m _train.train --name NAME --data _data/lustrous --preset body [options]
    torchrun --nproc_per_node=8 -m _train.train ...              (one process per GPU)
    torchrun --nnodes=2 --node_rank=R --rdzv_endpoint=HOST:29500 --nproc_per_node=8 -m _train.train ...

Runs are written to OUTDIR/NAME/RUN (RUN = 00000, 00001, ...): config.json, metrics.jsonl (one line per
tick), network-snapshot-<kimg>.pt and samples-<kimg>.png. The inference scripts find a snapshot by the
query NAME-RUN-KIMG. --resume takes a run folder (its newest snapshot) or a snapshot file and
continues in that folder exactly where it stopped. Ablations are switches: --fusion, --encoder,
--no-mask-d, --no-sr.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from training.train.loss import LossConfig
from training.train.presets import MODEL_PRESETS
from training.train.runs import default_runs_root
from training.train.snapshot import resolve_snapshot
from training.train.loop import TrainConfig, train



def next_run_dir(outdir: Path, name: str) -> Path:
    base = outdir / name
    ids = [int(p.name) for p in base.glob("[0-9]" * 5) if p.is_dir()] if base.is_dir() else []
    return base / f"{max(ids, default=-1) + 1:05d}"


@click.command(help=__doc__, context_settings={"show_default": True, "max_content_width": 110})
@click.option("--name", required=True, help="Run name (the NAME of NAME-RUN-KIMG queries).")
@click.option("--data", "data", type=click.Path(path_type=Path), default=Path("_data/lustrous"),
              help="Data root holding renders/ and subsets/.")
@click.option("--preset", type=click.Choice(MODEL_PRESETS), default="body", help="Model preset (tiny: CPU demo/tests).")
@click.option("--data-preset", type=click.Choice(["", "body", "head"]), default="",
              help="Dataset preset; default: the model preset's (tiny -> body).")
@click.option("--outdir", type=click.Path(path_type=Path), default=None,
              help="Where runs go (default: $PROJECT_DN/_train/eg3dc/runs, where --inferquery looks).")
@click.option("--batch", type=int, default=16, help="Global batch over all processes (paper: 16 body, 8 head).")
@click.option("--kimg", type=float, default=25000, help="Training length in thousands of images.")
@click.option("--tick", "tick_kimg", type=float, default=4, help="Progress line every this many kimg.")
@click.option("--snap", "snap_ticks", type=int, default=10, help="Snapshot and sample grid every this many ticks.")
@click.option("--fusion", type=click.Choice(["attention", "concat", "mean", "front_only"]), default="attention")
@click.option("--encoder", type=click.Choice(["pat", "none"]), default="pat")
@click.option("--mask-d/--no-mask-d", default=True, help="Discriminator mask branch.")
@click.option("--sr/--no-sr", "superresolution", default=True, help="Super-resolution module.")
@click.option("--use-features", is_flag=True, help="Add the dataset's ortho_katepca_chonk features at 8x8.")
@click.option("--lr-g", type=float, default=0.0025)
@click.option("--lr-d", type=float, default=0.001)
@click.option("--gamma", type=float, default=5.0, help="R1 weight on the image.")
@click.option("--gamma-mask", type=float, default=1.0, help="R1 weight on the mask branch.")
@click.option("--resume", type=click.Path(path_type=Path), default=None, help="Run folder or snapshot to continue.")
@click.option("--seed", type=int, default=0)
@click.option("--workers", type=int, default=2, help="Data-loading processes per GPU/process.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@click.option("--amp/--no-amp", default=True, help="bf16 autocast on CUDA.")
@click.option("--dry-run", is_flag=True, help="Print the resolved configuration and exit.")
def main(name, data, preset, data_preset, outdir, batch, kimg, tick_kimg, snap_ticks, fusion, encoder, mask_d,
         superresolution, use_features, lr_g, lr_d, gamma, gamma_mask, resume, seed, workers, device, amp, dry_run):
    if resume is not None:
        try:
            resume = resolve_snapshot(resume)
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from None
        run_dir = resume.parent
    else:
        run_dir = next_run_dir(outdir or default_runs_root(), name)
    cfg = TrainConfig(run_dir=str(run_dir), data=str(data), preset=preset, data_preset=data_preset, fusion=fusion,
                      encoder=encoder, mask_d=mask_d, superresolution=superresolution, use_features=use_features,
                      batch=batch, kimg=kimg, tick_kimg=tick_kimg, snap_ticks=snap_ticks, lr_g=lr_g, lr_d=lr_d,
                      seed=seed, workers=workers, device=device, amp=amp,
                      loss=LossConfig(r1_gamma=gamma, r1_gamma_mask=gamma_mask))
    if dry_run:
        click.echo(cfg)
        return
    click.echo(f"run folder: {run_dir}" + (f" (resuming {resume.name})" if resume else ""))
    try:
        train(cfg, resume)
    except (ValueError, FileNotFoundError) as exc:  # dataset and snapshot problems are one-line messages
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
