"""One markdown table from the metrics.json files of an ablation study.

    python -m _scripts.eval.collect_ablation --metrics DIR [--configs "attention concat ..."] [--out FILE]

DIR holds one folder per configuration with the metrics.json that _scripts.eval.measure wrote
(DIR/<config>/metrics.json, as _train/eg3dc/runs/ablations_synth.sh lays it out). Rows are the
configurations (in --configs order, else sorted), columns back PSNR/SSIM, 360 PSNR/SSIM, front PSNR
and, when measured, chamfer and F1@0.01. The best value of each column is bold. Under the table: the
training settings read from each run's config.json (a warning when the runs' seed, batch or length
differ) and the metrics that were not available (LPIPS, CLIP, FID without their weight files).

--reference DATA adds rows that need no model, scored the way measure scores (standard protocol,
8-bit, nearest resize to --res) on DATA's test characters, to show what the numbers reward:
'white' (background only), 'flat silhouette' (the true alpha filled with the view's mean colour:
an oracle for silhouette and colour with no detail) and 'mirrored front' (the true front image
flipped as the back view: the best a model can do that assumes the back looks like the front).

Exit status: 0, or 2 (one line on stderr) when a metrics.json or the --reference data is missing.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from _scripts.errors import BadInput, OneLineErrors, writable_folder
from dnnlib.files import write_text_atomic

# (label, section, key, higher is better)
COLUMNS = (("back PSNR", "back", "psnr", True), ("back SSIM x100", "back", "ssim", True),
           ("360 PSNR", "360", "psnr", True), ("360 SSIM x100", "360", "ssim", True),
           ("front PSNR", "front", "psnr", True), ("chamfer x100", "geometry", "chamfer", False),
           ("F1@0.01 x100", "geometry", "f1@10", True))
SHARED = ("kimg", "batch", "seed", "preset")


def value(results: dict, section: str, key: str) -> float | None:
    row = results["geometry"] if section == "geometry" else results["subsets"].get(section, {})
    v = row.get(key)
    return float(v) if isinstance(v, (int, float, str)) else None  # str: 'inf' in strict JSON


def train_config(results: dict) -> dict:
    """The run's config.json next to the measured snapshot ({} when it is gone)."""
    path = Path(results.get("snapshot_path", "")).parent / "config.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _rgba(path: Path, res: int):
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    with Image.open(path) as im:
        x = torch.from_numpy(np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    return F.interpolate(x, size=(res, res), mode="nearest-exact") if x.shape[-1] != res else x


def reference_rows(data: Path, res: int) -> dict[str, dict]:
    """Model-free rows (see the module help) in metrics.json's shape, means over test characters."""
    import torch
    from training.metrics.image import protocol_psnr, protocol_ssim
    renders = data / "renders"
    rendersets = sorted(p for p in renders.iterdir() if p.is_dir()) if renders.is_dir() else []
    tests = sorted((data / "subsets").glob("*_test.csv"))
    if len(rendersets) != 1 or len(tests) != 1:
        raise ValueError(f"{data}: --reference needs one renderset and one test split list")
    rs, ids = rendersets[0], [ln.split(",")[0].strip() for ln in tests[0].read_text().splitlines() if ln.strip()]

    def white(x):
        return x[:, :3] * x[:, 3:] + 1 - x[:, 3:]

    def flat(x):
        fg = (x[:, 3:] > 0.5).float()
        colour = (x[:, :3] * fg).sum((2, 3), keepdim=True) / fg.sum((2, 3), keepdim=True).clamp(min=1)
        return colour * x[:, 3:] + 1 - x[:, 3:]

    def q(x):
        return (x.clamp(0, 1) * 255).round() / 255

    scores: dict[str, dict[str, dict[str, list]]] = {}

    def add(row, subset, pred, true):
        cell = scores.setdefault(row, {}).setdefault(subset, {"psnr": [], "ssim": []})
        cell["psnr"].append(protocol_psnr(q(pred), q(true)).mean().item())
        cell["ssim"].append(100 * protocol_ssim(q(pred), q(true)).mean().item())

    for cid in ids:
        char = lambda dtype, view: rs / dtype / cid[-1] / cid / f"{view}.png"  # noqa: E731
        views = {v: _rgba(char("ortho", v), res) for v in ("front", "back")}
        ring = torch.cat([_rgba(char("rgb60", f"{k:04d}"), res) for k in range(36, 48)])
        for subset, x in (("front", views["front"]), ("back", views["back"]), ("360", ring)):
            true = white(x)
            add("white (no model)", subset, torch.ones_like(true), true)
            add("flat silhouette (oracle)", subset, flat(x), true)
        add("mirrored front (oracle)", "back", white(views["front"]).flip(-1), white(views["back"]))
    rows = {}
    for row, subsets in scores.items():
        rows[row] = {"subsets": {s: {m: sum(v) / len(v) for m, v in c.items()} for s, c in subsets.items()},
                     "geometry": {}, "reference": True}
    return rows


def table(rows: dict[str, dict]) -> str:
    present = [c for c in COLUMNS if any(value(r, c[1], c[2]) is not None for r in rows.values())]
    best = {}
    for label, section, key, higher in present:
        vals = [v for r in rows.values() if not r.get("reference") and (v := value(r, section, key)) is not None]
        if vals:
            best[label] = max(vals) if higher else min(vals)
    lines = ["| config | fusion | encoder | mask D | " + " | ".join(c[0] for c in present) + " |",
             "|---|---|---|---|" + "---:|" * len(present)]
    settings = {}
    for name, results in rows.items():
        cfg = {} if results.get("reference") else train_config(results)
        settings[name] = cfg
        cells = (["-", "-", "-"] if results.get("reference") else
                 [str(cfg.get("fusion", "?")), str(cfg.get("encoder", "?")),
                  {True: "on", False: "off"}.get(cfg.get("mask_d"), "?")])
        for label, section, key, _ in present:
            v = value(results, section, key)
            text = "n/a" if v is None else f"{v:.2f}"
            top = v is not None and not results.get("reference") and label in best and f"{v:.2f}" == f"{best[label]:.2f}"
            cells.append(f"**{text}**" if top else text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    notes = []
    settings = {n: c for n, c in settings.items() if not rows[n].get("reference")}
    shared = {k: sorted({str(c.get(k)) for c in settings.values()}) for k in SHARED}
    if all(len(v) == 1 for v in shared.values()):
        notes.append("all runs: " + ", ".join(f"{k} {v[0]}" for k, v in shared.items()))
    else:
        notes.append("WARNING: the runs differ in " + ", ".join(f"{k} ({'/'.join(v)})" for k, v in shared.items()
                                                                if len(v) > 1))
    first = next(r for r in rows.values() if not r.get("reference"))
    notes.append(f"test split: {first['characters']} character(s), {first['subsets']['360']['images']} '360' "
                 f"image(s), {first['protocol']} protocol, images compared at {first['resolution']} px")
    if any(r.get("reference") for r in rows.values()):
        notes.append("rows marked (no model) / (oracle) are model-free references (collect_ablation --help); "
                     "bold marks the best trained configuration")
    missing = sorted({m for r in rows.values() for m in r.get("unavailable", {})})
    if missing:
        notes.append(f"not measured ({', '.join(missing)}): " + "; ".join(
            f"{m}: {first['unavailable'].get(m, 'missing in some runs')}" for m in missing))
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


@click.command(cls=OneLineErrors, help=__doc__, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--metrics", type=click.Path(path_type=Path), required=True, help="folder with <config>/metrics.json")
@click.option("--configs", default="", help="space-separated row order (default: every folder, sorted)")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="also write the table to this file")
@click.option("--reference", type=click.Path(path_type=Path), default=None, metavar="DATA",
              help="add the model-free reference rows, scored on DATA's test split")
@click.option("--res", type=int, default=64, help="resolution of the reference rows (measure's --res)")
def main(metrics: Path, configs: str, out: Path | None, reference: Path | None, res: int) -> None:
    """Print (and with --out write) the table of the configurations under --metrics."""
    names = configs.split() or sorted(p.parent.name for p in metrics.glob("*/metrics.json"))
    missing = [n for n in names if not (metrics / n / "metrics.json").is_file()]
    if missing or not names:
        raise BadInput(f"{metrics}: no metrics.json for {', '.join(missing) or 'any configuration'}")
    if out is not None:
        writable_folder(out.parent)
    rows = {n: json.loads((metrics / n / "metrics.json").read_text()) for n in names}
    if reference is not None:
        rows.update(reference_rows(reference, res))
    text = table(rows)
    click.echo(text, nl=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, text)


if __name__ == "__main__":
    main()
