"""The original README's generate command, kept working; it runs _scripts.eval.generate.

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

import argparse
import sys

from _scripts.eval import generate

DATASETS = {"human": "body", "multi": "head"}


def build_parser() -> argparse.ArgumentParser:
    ap = generate.build_parser(prog="python -m _scripts.eval.human_generate",
                               description="The original README's generate command (same outputs as "
                                           "_scripts.eval.generate).")
    ap.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                    help="human: NOVA-Human full body (body preset); multi: VRoid heads (head preset) "
                         "(default: the snapshot's preset)")
    ap.add_argument("--generator_module", default=None, metavar="MODULE",
                    help="accepted for the original's commands and ignored: the snapshot's stored config "
                         "rebuilds the one generator class")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.dataset is not None:
        if args.preset is not None and args.preset != DATASETS[args.dataset]:
            ap.error(f"--dataset {args.dataset} means --preset {DATASETS[args.dataset]}, not {args.preset}")
        args.preset = DATASETS[args.dataset]
    if args.generator_module is not None:
        print(f"note: --generator_module {args.generator_module} ignored: NOVA-3D has one generator class "
              f"(training.model.triplane.NovaGenerator), configured by the snapshot", file=sys.stderr)
    return generate.guarded(generate.run, args)


if __name__ == "__main__":
    sys.exit(main())
