"""Stage 3, train: a data root and a preset in; snapshots, sample grids and metrics.jsonl out. Losses in
four phases (loss.py), the loop (loop.py), DDP plumbing (distributed.py), model presets (presets.py),
snapshot files (snapshot.py) and where runs live (runs.py: NAME-RUN-KIMG queries)."""
