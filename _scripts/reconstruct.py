"""Reconstruct your own characters: a front and a back image in, views, turntables and meshes out.

    python -m _scripts.reconstruct --front F.png --back B.png (--ckpt FILE | --inferquery Q) --out DIR
        [--video] [--mesh] [--no-bg-removal] [--device auto|cpu|cuda]
    several characters: repeat the pair (--front A_f.png --back A_b.png --front B_f.png --back B_b.png),
    or --pairs LIST with one 'FRONT BACK [NAME]' per line (whitespace-separated, so paths without
    spaces; relative to the list's folder; blank lines and lines starting with # are skipped).

The images are the character's orthographic front and back views (the back as seen from behind),
on a transparent or plain background. Each is cleaned and framed like the training data
(training/data/preprocess.py: background removal, crop, the preset's framing rule, resize, on white).
One pair writes into DIR; several pairs write into DIR/<NAME>/ (NAME: the list's third column, else the
front file's name without a trailing 'front'). The files are those of _scripts.eval.generate, where
input_front.png and input_back.png show the images as the model received them.
An unreadable, empty (all background) or tiny (< 32 px character) image stops the run with a one-line
error naming the file, before anything is rendered.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from tqdm import tqdm

from _scripts.eval.generate import (UsageError, add_model_args, add_output_args, check_flags, guarded, load_model,
                                    output_options, print_summary, write_character)
from training.data.layout import PRESETS
from training.data.preprocess import DEFAULT_TOLERANCE, prepare_image, to_condition
from training.infer.render import make_character_planes


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m _scripts.reconstruct", description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--front", type=Path, action="append", default=[], metavar="PNG",
                    help="front view image (repeat, paired in order with --back, for several characters)")
    ap.add_argument("--back", type=Path, action="append", default=[], metavar="PNG",
                    help="back view image, seen from behind")
    ap.add_argument("--pairs", type=Path, default=None, metavar="LIST",
                    help="text file of 'FRONT BACK [NAME]' lines, instead of or besides --front/--back")
    add_model_args(ap)
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--preset", choices=sorted(PRESETS), default=None,
                    help="framing and cameras: body or head (default: the snapshot's)")
    ap.add_argument("--no-bg-removal", dest="bg_removal", action="store_false",
                    help="use the images as they are (already framed like the training views): only pad to a "
                         "square with white and resize")
    ap.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                    help=f"background keying tolerance for images without alpha, a fraction of the colour range "
                         f"(default {DEFAULT_TOLERANCE})")
    add_output_args(ap)
    return ap


def read_pairs(args: argparse.Namespace) -> list[tuple[Path, Path, str | None]]:
    """(front, back, name or None) for every character asked for."""
    if len(args.front) != len(args.back):
        raise UsageError(f"got {len(args.front)} --front and {len(args.back)} --back images; give them in pairs")
    pairs = [(f, b, None) for f, b in zip(args.front, args.back)]
    if args.pairs is not None:
        try:
            lines = args.pairs.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{args.pairs}: cannot read pair list ({exc})") from None
        for n, line in enumerate(lines, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) not in (2, 3):
                raise UsageError(f"{args.pairs}:{n}: expected 'FRONT BACK [NAME]', got {line.strip()!r}")
            base = args.pairs.parent
            pairs.append((base / fields[0], base / fields[1], fields[2] if len(fields) == 3 else None))
    if not pairs:
        raise UsageError("nothing to reconstruct: give --front F.png --back B.png, or --pairs LIST")
    return pairs


def output_names(pairs: list[tuple[Path, Path, str | None]]) -> list[str]:
    """Folder names: the given name, else the front file's stem without a trailing 'front'; made unique."""
    names, seen = [], set()
    for front, _, name in pairs:
        stem = re.sub(r"[_\-. ]*front$", "", front.stem, flags=re.IGNORECASE)
        base = name or stem or front.parent.name or "character"
        unique, k = base, 2
        while unique in seen:
            unique, k = f"{base}-{k}", k + 1
        seen.add(unique)
        names.append(unique)
    return names


def run(args: argparse.Namespace) -> int:
    pairs = read_pairs(args)
    check_flags(args)
    if not 0 < args.tolerance < 1:
        raise UsageError(f"--tolerance must be between 0 and 1, got {args.tolerance}")
    loaded, _ = load_model(args)
    G = loaded.G
    if G.cfg.use_precomputed_features:
        raise UsageError(f"{loaded.path}: this snapshot needs precomputed ortho_katepca_chonk features, "
                         f"which your own images do not have")
    preset_name = args.preset or loaded.model.data_preset
    if abs(PRESETS[preset_name].boxwarp - G.cfg.box_warp) > 1e-6:
        raise UsageError(f"--preset {preset_name}: the snapshot was trained with the {loaded.model.data_preset} preset")
    opts = output_options(args, G)
    size = loaded.model.cond_resolution
    inputs = [tuple(prepare_image(p, preset_name, size, args.bg_removal, args.tolerance) for p in (f, b))
              for f, b, _ in pairs]
    names = output_names(pairs)
    start, count = time.time(), 0
    for (front, back), name in tqdm(list(zip(inputs, names)), desc="reconstruct", unit="char", dynamic_ncols=True):
        planes = make_character_planes(G, to_condition(front), to_condition(back))
        out_dir = args.out if len(pairs) == 1 else args.out / name
        count += len(write_character(G, PRESETS[preset_name], planes, (front, back), out_dir, opts, name))
    print_summary(args.out, len(pairs), count, time.time() - start, opts)
    return 0


def main(argv: list[str] | None = None) -> int:
    return guarded(run, build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
