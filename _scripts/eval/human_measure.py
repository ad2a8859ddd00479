"""The original README's measure command, kept working: the same measurement as _scripts.eval.measure.

\b
    python -m _scripts.eval.human_measure --inferquery NAME-RUN-KIMG [--dataset human|multi] [...]

--dataset defaults to human (the NOVA-Human body set, box 2.1); multi is the head set (box 0.7), as
in the original script. Every option of _scripts.eval.measure is accepted.
"""
from __future__ import annotations

import click

from _scripts.errors import OneLineErrors
from _scripts.options import measure_options, run_measure


@click.command(name="human_measure", cls=OneLineErrors, help=__doc__)
@measure_options(dataset_default="human")
def main(**flags) -> None:
    run_measure(**flags)


if __name__ == "__main__":
    main()
