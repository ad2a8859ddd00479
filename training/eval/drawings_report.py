"""The drawings evaluation's page: metrics.md (a table of rows by view groups) and metrics.json.

Takes the results dict of training/eval/drawings.py; gives the markdown text and writes both files
atomically (dnnlib/files.py write_text_atomic; strict JSON from training/eval/report.py).
"""
from __future__ import annotations

import json
from pathlib import Path

from training.eval.drawings import GROUPS
from dnnlib.files import write_text_atomic
from training.eval.report import strict_json

PROTOCOL = ("the drawings are each character's ortho front and back renders, given to the model as reconstruct "
            "gives them (background removal, framing); the model's ortho and 12-view ring renders are aligned to "
            "the true views by one similarity fitted on the front silhouettes (alpha > 0.5, rendered at {res} rays per "
            "side: scale from the "
            "heights, feet and bounding-box centre aligned) and applied to every view (ring views: weak "
            "perspective); IoU of the silhouettes, PSNR (data range 1) over their union, images on white, "
            "8-bit, resized (nearest) to {res} px; side = left and right; means over characters")


def _cell(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_markdown(results: dict) -> str:
    """The results as a page: header, one table (IoU and PSNR per group), the rows' meanings, notes."""
    lines = ["# NOVA-3D drawings evaluation", "", f"- protocol: {PROTOCOL.format(res=results['resolution'])}",
             f"- data: {results['data']} (preset {results['preset']}, renderset {results['renderset']}, split "
             f"{results['split']}), {results['characters']} character(s)"]
    if results["snapshot"] is not None:
        lines.append(f"- snapshot: {results['snapshot']} ({results['snapshot_path']}), images at "
                     f"{results['image_resolution']} px, {' + '.join(map(str, results['samples_per_ray']))} "
                     f"samples per ray")
        refine = results.get("refine") or {}
        lines.append(f"- planes fitted to the drawings: {refine.get('steps', 0)} steps (lr {refine.get('lr')})"
                     if refine.get("steps") else "- planes as the generator made them (no fit to the drawings)")
        if results.get("carved"):
            lines.append("- carved to the drawings' silhouettes")
    seconds = ", ".join(f"{row} {s:.2f}" for row, s in results["seconds_per_character"].items())
    lines += [f"- seconds per character: {seconds}", "",
              "| row | " + " | ".join(f"{g} IoU | {g} PSNR" for g in GROUPS) + " |",
              "|---|" + "---:|---:|" * len(GROUPS)]
    for row, groups in results["table"].items():
        cells = [f"{_cell(groups[g]['iou'], 3)} | {_cell(groups[g]['psnr'], 2)}" for g in GROUPS]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += ["", *(f"- {row}: {text}" for row, text in results["rows"].items()), *(f"- {n}" for n in results["notes"])]
    return "\n".join(lines) + "\n"


def write_outputs(results: dict, out: Path) -> tuple[Path, Path]:
    """<out>/metrics.md and <out>/metrics.json (strict JSON: PSNR inf as the string "inf")."""
    Path(out).mkdir(parents=True, exist_ok=True)
    md, js = Path(out) / "metrics.md", Path(out) / "metrics.json"
    write_text_atomic(md, format_markdown(results))
    write_text_atomic(js, json.dumps(strict_json(results), indent=2, allow_nan=False) + "\n")
    return md, js
