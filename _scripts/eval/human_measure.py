"""The original README's measure command, kept working: the same measurement as _scripts.eval.measure.

\b
    python -m _scripts.eval.human_measure --inferquery NAME-RUN-KIMG [--dataset human|multi] [...]

--dataset defaults to human (the NOVA-Human body set, box 2.1); multi is the head set (box 0.7), as
in the original script. Every option of _scripts.eval.measure is accepted.
"""
from __future__ import annotations

from _scripts.eval.measure import build_command

main = build_command("human_measure", __doc__, "human")

if __name__ == "__main__":
    main()
