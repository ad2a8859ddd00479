"""The original README's generate command, kept working; it writes what _scripts.eval.generate writes.

\b
    python -m _scripts.eval.human_generate --generator_module training.triplane.TriPlaneGenerator_v1 \\
        --dataset human --inferquery human_mv_panic3d_mask_encoder_attention-00001-000920
    python -m _scripts.eval.human_generate --inferquery multi_panic3d-00000-002040 --dataset multi \\
        --generator_module training.triplane.TriPlaneGenerator_v1

--dataset human is the NOVA-Human body set (body preset, renderset human_rutileE, splits
human_rutileEB_*), multi the VRoid head set (head preset). --generator_module is accepted and
ignored: there is one generator class, rebuilt from the config stored in the snapshot. Every flag of
generate works here too (--out, --video, --mesh, --device, ...).
"""
from __future__ import annotations

import click

from _scripts.errors import OneLineErrors
from _scripts.options import DATASETS, generate_split, model_options, output_options, split_options


@click.command(cls=OneLineErrors, help=__doc__)
@model_options
@split_options
@output_options
@click.option("--dataset", type=click.Choice(sorted(DATASETS)), default=None,
              help="human: NOVA-Human full body (body preset); multi: VRoid heads (head preset) "
                   "(default: the snapshot's preset)")
@click.option("--generator_module", default=None, metavar="MODULE",
              help="accepted for the original's commands and ignored: the snapshot's stored config "
                   "rebuilds the one generator class")
def main(dataset: str | None, generator_module: str | None, preset: str | None, **flags) -> None:
    if dataset is not None:
        if preset is not None and preset != DATASETS[dataset]:
            raise click.UsageError(f"--dataset {dataset} means --preset {DATASETS[dataset]}, not {preset}")
        preset = DATASETS[dataset]
    if generator_module is not None:
        click.echo(f"note: --generator_module {generator_module} ignored: NOVA-3D has one generator class "
                   f"(training.model.triplane.NovaGenerator), configured by the snapshot", err=True)
    generate_split(preset=preset, **flags)


if __name__ == "__main__":
    main()
