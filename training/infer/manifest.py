"""The settings an output folder was written with (<out>/manifest.json), so that a run with other settings
never mixes its files into it.

generate (generate_settings) and reconstruct (reconstruct_settings) write their manifest here
(write_manifest), with the characters, before anything is rendered. other_settings compares a folder's
manifest with the settings a run is about to use: every entry both have that differs, the characters list
aside (runs with the same settings may add characters to one folder; the query too, a name for the snapshot).
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from dnnlib.files import write_text_atomic
from training.data.dataset import NovaHumanDataset
from training.data.layout import PRESETS
from training.infer.cameras import ortho_views, spin_views
from training.infer.export import OutputOptions
from training.infer.load import LoadedGenerator
from training.infer.refine import RefineSettings

MANIFEST = "manifest.json"
NOT_SETTINGS = ("characters", "query")  # the query is a name: the same snapshot may be named otherwise
PATH_SETTINGS = ("snapshot", "data")  # compared as paths, so a relative and an absolute spelling agree
MISSING_MEANS = {"carve": False, "refine": asdict(RefineSettings(steps=0))}
"""What a manifest from before a setting was recorded did: folders written before carving and the fit to the
drawings existed hold neither, and are compared as such."""


class OtherSettings(ValueError):
    """An output folder holds files made with other settings; the message is one line naming them."""


def output_settings(loaded: LoadedGenerator, query: str, preset: str, opts: OutputOptions) -> dict:
    """The settings every output folder records: snapshot, preset, views, what was written per character and
    whether the field was carved by the drawings' silhouettes."""
    return {"snapshot": str(loaded.path), "query": query, "preset": preset, "size": opts.size,
            "views": ortho_views(PRESETS[preset]).names + spin_views(PRESETS[preset]).names, "video": opts.video,
            "frames": opts.frames if opts.video else 0, "mesh": opts.mesh, "mesh_res": opts.mesh_res if opts.mesh else 0,
            "faces": opts.faces if opts.mesh else 0, "vrm": opts.vrm.version if opts.vrm else None,
            "carve": loaded.G.cfg.carve}


def generate_settings(loaded: LoadedGenerator, query: str, ds: NovaHumanDataset, opts: OutputOptions) -> dict:
    """What generate's manifest records about a run, but the characters."""
    return {**output_settings(loaded, query, ds.cfg.preset, opts), "data": str(ds.root), "split": ds.cfg.split}


def reconstruct_settings(loaded: LoadedGenerator, query: str, preset: str, opts: OutputOptions, bg_removal: bool,
                         tolerance: float, n_pairs: int, refine: RefineSettings) -> dict:
    """What reconstruct's manifest records about a run, but the characters: also the image preparation, the
    fit to the drawings and whether the files are in <out> (one pair) or in <out>/<name>/."""
    return {**output_settings(loaded, query, preset, opts), "bg_removal": bg_removal, "tolerance": tolerance,
            "refine": asdict(refine), "folders": "one per character" if n_pairs > 1 else "none (one character)"}


def other_settings(out: Path, settings: dict) -> list[str]:
    """'KEY: VALUE (this run: VALUE)' for each setting that out/manifest.json records otherwise; [] when the
    folder has no readable manifest."""
    try:
        recorded = json.loads((Path(out) / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    if not isinstance(recorded, dict):
        return []
    recorded = {**{k: v for k, v in MISSING_MEANS.items() if k in settings}, **recorded}
    return [f"{key} {recorded[key]!r} (this run: {value!r})" for key, value in settings.items()
            if key not in NOT_SETTINGS and key in recorded and not _same(key, recorded[key], value)]


def _same(key: str, recorded: object, value: object) -> bool:
    if key in PATH_SETTINGS and isinstance(recorded, str) and isinstance(value, str):
        return Path(recorded).resolve() == Path(value).resolve()
    return recorded == value


def refuse_other_settings(out: Path, settings: dict) -> None:
    """OtherSettings when out holds files made with other settings (other_settings), before any is written."""
    differ = other_settings(out, settings)
    if differ:
        raise OtherSettings(f"{out}: holds output made with other settings ({'; '.join(differ)}); use another "
                            f"--out, or empty that folder")


def write_manifest(out: Path, manifest: dict) -> Path:
    """out/manifest.json, written whole or not at all."""
    Path(out).mkdir(parents=True, exist_ok=True)
    return write_text_atomic(Path(out) / MANIFEST, json.dumps(manifest, indent=1) + "\n")
