"""Make a release file from a training snapshot: G_ema in float16 with its configs (a fifth of the size).

\b
    python -m _scripts.release --ckpt RUNS/NAME/RUN/network-snapshot-KIMG.pt --out _train/released/nova3d-cpu128.pt

The release loads wherever a snapshot does (--ckpt of generate, measure and reconstruct); reconstruct
uses _train/released/nova3d-cpu128.pt when given neither --ckpt nor --inferquery.
"""
from __future__ import annotations

from pathlib import Path

import click

from training.infer.release import sha256_of, write_release


@click.command(help=__doc__)
@click.option("--ckpt", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="training snapshot (network-snapshot-*.pt)")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="release file to write")
def main(ckpt: Path, out: Path) -> None:
    try:
        provenance = write_release(ckpt, out)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    size = out.stat().st_size / 2**20
    click.echo(f"wrote {out} ({size:.1f} MiB, sha256 {sha256_of(out)}) from {provenance['snapshot']} "
               f"({provenance['nimg']} images)")


if __name__ == "__main__":
    main()
