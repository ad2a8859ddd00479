"""Click options that several commands take, defined once (scripts import this module, never each other)."""
from __future__ import annotations

import click

# ---------------------------------------------------------------------------------------------------
# Model selection, device, render batching and output options: generate, human_generate, reconstruct,
# measure, human_measure.
# ---------------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------------
# Data job options: synth and render (workers, shards, splits, views, grid).
# ---------------------------------------------------------------------------------------------------
