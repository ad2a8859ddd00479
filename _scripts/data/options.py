"""Click options that the data commands (synth, render, open_characters) share, defined once: workers,
shards, splits, views, grid, and the runner that gives their errors one line and their `merge` sub-command.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Callable

import click

from _scripts.errors import BAD_INPUT, OK, report
from training.data.layout import PRESETS, Renderset
from training.data.synth import jobs

DATA_CONTEXT = {"help_option_names": ["-h", "--help"]}


class WholeNumber(click.ParamType):
    """Digits only (no sign); with positive, at least 1."""

    name = "integer"

    def __init__(self, positive: bool):
        self.positive = positive

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value)
        if not text.isdigit():
            self.fail(f"expected a whole number, got {text!r}", param, ctx)
        if self.positive and int(text) < 1:
            self.fail(f"expected a positive integer, got {text!r}", param, ctx)
        return int(text)


class Shard(click.ParamType):
    """K/N with 0 <= K < N: the K-th of N jobs."""

    name = "K/N"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        match = re.fullmatch(r"(\d+)/(\d+)", str(value))
        if not match or not int(match[1]) < int(match[2]):
            self.fail(f"expected K/N with 0 <= K < N, got {value!r}", param, ctx)
        return int(match[1]), int(match[2])


class SplitFractions(click.ParamType):
    """train,val,test: three fractions summing to 1."""

    name = "train,val,test"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> tuple[float, float, float]:
        if isinstance(value, tuple):
            return value
        try:
            values = tuple(float(v) for v in str(value).split(","))
        except ValueError:
            values = ()
        if len(values) != 3 or min(values) < 0 or abs(sum(values) - 1) > 1e-6:
            self.fail(f"expected three fractions train,val,test summing to 1, got {value!r}", param, ctx)
        return values


COUNT, POSITIVE = WholeNumber(positive=False), WholeNumber(positive=True)

out_option = click.option("--out", required=True, type=click.Path(path_type=Path),
                          help="data root: writes renders/<renderset>/ and subsets/")
renderset_option = click.option("--renderset", default="", help="renderset folder name (default: the preset's)")


def preset_option(help: str | None = None) -> Callable:
    """--preset, required: body or head."""
    return click.option("--preset", required=True, type=click.Choice(sorted(PRESETS)), help=help)


def data_job_options(command: Callable) -> Callable:
    """The options both generators share: --views --grid --splits --workers --shard."""
    options = [
        click.option("--views", type=COUNT, help="random views per character (default: the preset's, 16 body, 8 head)"),
        click.option("--grid", type=click.Choice(jobs.GRID_CHOICES), default="eval",
                     help="the 60-view rgb60/xyza60 evaluation grid: for val/test characters (eval, default), "
                     "all, none"),
        click.option("--splits", type=SplitFractions(), default="0.8,0.1,0.1",
                     help="train,val,test fractions (default 0.8,0.1,0.1)"),
        click.option("--workers", type=POSITIVE, default=2, help="render processes (default 2)"),
        click.option("--shard", type=Shard(), help="K/N: render only every N-th character from K, skip complete "
                     "ones, write a partial meta; run 'merge' after all shards"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def data_command_help(usage: str, details: str) -> str:
    """A generator's help: the script's docstring (its indented example lines kept as they are) and the
    library module's docstring after its first paragraph (what the run does)."""
    paragraphs = [f"\b\n{p}" if p.startswith("    ") else p for p in usage.strip().split("\n\n")]
    return "\n\n".join(paragraphs + details.split("\n\n", 1)[1:])


def merge_command(with_renderset: bool) -> click.Command:
    """The `merge` sub-command of synth and render: join the shards' partial metas, write the split lists."""
    def merge(out: Path, preset: str, renderset: str = "") -> int:
        p = PRESETS[preset]
        click.echo(jobs.merge(out, Renderset(out, renderset or p.renderset), p.subset))
        return 0
    if with_renderset:
        merge = renderset_option(merge)
    merge = preset_option()(merge)
    merge = click.option("--out", required=True, type=click.Path(path_type=Path),
                         help="the data root the shards wrote")(merge)
    return click.command("merge", help="Merge the partial metas of all shards; write the split lists.",
                         context_settings=DATA_CONTEXT)(merge)


def run_data_command(command: click.Command, argv: list[str] | None, with_renderset: bool,
                     with_merge: bool = True) -> int:
    """Run a generator on argv (default: sys.argv), or its merge when argv starts with 'merge' (for
    generators that shard); returns the exit code (_scripts/errors.py): what the command returns (None: 0),
    else 2 or 1 after one line 'NAME: error: ...'; usage errors print click's usage and exit 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    name = command.name
    prog = f"python -m _scripts.data.{name}"
    if with_merge and argv[:1] == ["merge"]:
        command, argv, prog = merge_command(with_renderset), argv[1:], f"{prog} merge"
    try:
        return command.main(argv, prog_name=prog, standalone_mode=False) or OK
    except click.UsageError as exc:
        exc.show()
        raise SystemExit(BAD_INPUT) from None
    except click.Abort:
        click.echo("Aborted!", err=True)
        raise SystemExit(1) from None
    except Exception as exc:  # noqa: BLE001 - report() re-raises what it does not know
        return report(exc, prefix=f"{name}: error: ")
