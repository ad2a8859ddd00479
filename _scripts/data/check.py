"""Validate a NOVA-Human-layout dataset without training.

    python -m _scripts.data.check DIR [--preset body|head] [--renderset NAME] [--subset NAME] [--fast]

DIR is the data root holding renders/ and subsets/ (e.g. _data/lustrous). Prints one line per problem,
each naming the file, and exits 2 (bad input); prints a one-line summary and exits 0 when the dataset is
good. Checked: the meta json (entries, finite camera values, the ortho views every character needs), the
split lists (present, train not empty, every id known; an empty val or test list is noted in the
summary), and every image the meta json promises (present, a PNG, the renderset's size, RGBA where
colour or xyz goes with alpha and, without --fast, its pixel data readable). Training runs the same
checks on its train and val splits before it starts.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from _scripts.errors import BAD_INPUT
from training.data.checks import check_dataset
from training.data.layout import PRESETS


@click.command(help=__doc__)
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="Dataset preset (renderset and split names). Default: every preset whose renderset is on disk.")
@click.option("--renderset", default="", help="Renderset folder name (default: the preset's).")
@click.option("--subset", default="", help="Split-list prefix under subsets/ (default: the preset's).")
@click.option("--fast", is_flag=True, help="Check headers and sizes only; skip decoding every PNG.")
def main(root: Path, preset: str | None, renderset: str, subset: str, fast: bool) -> None:
    if renderset and not preset:
        raise click.UsageError("--renderset needs --preset (it says which box width and split names apply)")
    presets = [preset] if preset else [n for n, p in PRESETS.items() if (root / "renders" / p.renderset).is_dir()]
    if not presets:
        click.echo(f"{root / 'renders'}: no renderset of a known preset found "
                   f"(expected one of {', '.join(p.renderset for p in PRESETS.values())}; pass --renderset)")
        sys.exit(BAD_INPUT)
    problems, summaries = [], []
    for name in presets:
        found, summary = check_dataset(root, name, renderset, subset, decode=not fast, progress=sys.stderr.isatty())
        problems += found
        summaries.append(summary)
    if problems:
        for line in problems:
            click.echo(line)
        click.echo(f"{len(problems)} problem(s) found", err=True)
        sys.exit(BAD_INPUT)
    click.echo("; ".join(summaries))


if __name__ == "__main__":
    main()
