"""Stage 5, eval: a snapshot and a split in; the metric table out. measure.py is the protocol (render
every subset through infer/render.py, score it with metrics/), report.py writes metrics.md/json."""
