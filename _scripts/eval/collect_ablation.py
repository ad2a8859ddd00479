"""One markdown table from the metrics.json files of an ablation study, with the spread over seeds.

\b
    python -m _scripts.eval.collect_ablation --metrics DIR [--configs "attention concat ..."]
        [--versus "attention:front_only attention:concat"] [--out FILE]

DIR holds one folder per configuration with the metrics.json that _scripts.eval.measure wrote, either one
run (DIR/<config>/metrics.json) or one per seed (DIR/<config>/seed<N>/metrics.json; when a configuration
has seed<N> folders, they are what is read), as _train/eg3dc/runs/ablations_synth.sh lays them out. Rows
are the configurations (in --configs order, else sorted), columns back PSNR/SSIM, 360 PSNR/SSIM, front
PSNR and, when measured, chamfer and F1@0.01. With several seeds a cell is "mean ± sd", sd the sample
standard deviation over the seeds. The best (mean) value of each column is bold. Under the table: the
training settings read from each run's config.json (a warning when the runs' batch, length, preset or,
without seed folders, seed differ; with them, when a run's seed is not its folder's), the seeds of each
configuration, and the metrics that were not available (LPIPS, CLIP, FID without their weight files).

--versus A:B (space-separated pairs in one option, or the option repeated) adds a line per pair: the back
PSNR of A minus that of B for each seed both have (seeds matched by number; the line says so when either
has seeds the other lacks), its mean and its minimum.

--reference DATA adds rows that need no model, scored the way measure scores (standard protocol,
8-bit, nearest resize to --res) on DATA's test characters, to show what the numbers reward:
'white' (background only), 'flat silhouette' (the true alpha filled with the view's mean colour:
an oracle for silhouette and colour with no detail) and 'mirrored front' (the true front image
flipped as the back view: the best a model can do that assumes the back looks like the front).
--render-res R adds 'best R^2 render': for each true view the image at R x R whose bilinear upsampling
(what G does without super-resolution) is closest to it, upsampled: the most any model rendering at R x R
can score.

Exit status: 0, or 2 (one line on stderr) when a metrics.json (of a configuration or of one of its seed
folders) or the --reference data is missing, or a --versus pair is not two configurations with a seed in
common.
"""
from __future__ import annotations

import json
import re
import statistics
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
SEED_FOLDER = re.compile(r"seed(\d+)")


def value(results: dict, section: str, key: str) -> float | None:
    row = results["geometry"] if section == "geometry" else results["subsets"].get(section, {})
    v = row.get(key)
    return float(v) if isinstance(v, (int, float, str)) else None  # str: 'inf' in strict JSON


def train_config(results: dict) -> dict:
    """The run's config.json next to the measured snapshot ({} when it is gone), its kimg the images the
    measured snapshot was trained on where measure recorded them (a run stopped by --minutes, or measured
    at an earlier snapshot, trained less than its configured length)."""
    path = Path(results.get("snapshot_path", "")).parent / "config.json"
    cfg = json.loads(path.read_text()) if path.is_file() else {}
    if results.get("trained_images") is not None:
        cfg["kimg"] = results["trained_images"] / 1000
    return cfg


def _rgba(path: Path, res: int):
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    with Image.open(path) as im:
        x = torch.from_numpy(np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    return F.interpolate(x, size=(res, res), mode="nearest-exact") if x.shape[-1] != res else x


def best_upsampled(true, low: int):
    """The (B, C, n, n) images' least-squares fit by a low x low image upsampled bilinearly, upsampled.
    Bilinear resizing is separable, U (n, low) per axis, so the fit is pinv(U) T pinv(U)^T."""
    import torch
    import torch.nn.functional as F
    up = F.interpolate(torch.eye(low, dtype=true.dtype)[:, None], size=true.shape[-1], mode="linear",
                       align_corners=False)[:, 0].T
    fit = torch.linalg.pinv(up)
    return up @ (fit @ true @ fit.T) @ up.T


def reference_rows(data: Path, res: int, limit: int | None = None,
                   render_res: int | None = None) -> dict[str, dict]:
    """Model-free rows (see the module help) in metrics.json's shape, means over the first `limit` test
    characters (all by default; the runs' count, as measure --limit takes the split's first ones)."""
    import torch
    from training.metrics.image import protocol_psnr, protocol_ssim
    renders = data / "renders"
    rendersets = sorted(p for p in renders.iterdir() if p.is_dir()) if renders.is_dir() else []
    tests = sorted((data / "subsets").glob("*_test.csv"))
    if len(rendersets) != 1 or len(tests) != 1:
        raise ValueError(f"{data}: --reference needs one renderset and one test split list")
    rs, ids = rendersets[0], [ln.split(",")[0].strip() for ln in tests[0].read_text().splitlines() if ln.strip()]
    ids = ids[:limit]

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
            if render_res is not None:
                add(f"best {render_res}^2 render (oracle)", subset, best_upsampled(true, render_res), true)
        add("mirrored front (oracle)", "back", white(views["front"]).flip(-1), white(views["back"]))
    return {row: {"subsets": {s: {m: sum(v) / len(v) for m, v in c.items()} for s, c in subsets.items()},
                  "geometry": {}} for row, subsets in scores.items()}


def spread(runs: dict[int | None, dict], section: str, key: str) -> tuple[float, float | None] | None:
    """Mean and sample standard deviation (None for one run) of a metric over a configuration's runs;
    None when a run lacks it."""
    vals = [value(r, section, key) for r in runs.values()]
    if any(v is None for v in vals):
        return None
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else None


def seeds_text(runs: dict[int | None, dict]) -> str:
    if None in runs:
        return "one run"
    return ("seed " if len(runs) == 1 else "seeds ") + "/".join(str(s) for s in runs)


def versus_line(rows: dict[str, dict[int | None, dict]], a: str, b: str) -> str:
    """Back PSNR of a minus b per seed, with its mean and minimum (the issue's criterion is on the back view),
    over the seeds both configurations have (paired: same seed, same data order and initial draw)."""
    if (None in rows[a]) != (None in rows[b]):
        single = a if None in rows[a] else b
        raise BadInput(f"--versus {a}:{b}: {single} is one run without seed<N> folders, the other has seed folders; "
                       f"lay {single} out by seed (ablations_synth.sh with SEEDS) to pair them")
    common = [s for s in rows[a] if s in rows[b]]
    if not common:
        raise BadInput(f"--versus {a}:{b}: no seed in common ({seeds_text(rows[a])} vs {seeds_text(rows[b])})")
    diffs = [value(rows[a][s], "back", "psnr") - value(rows[b][s], "back", "psnr") for s in common]
    line = (f"{a} − {b}, back PSNR: {statistics.fmean(diffs):+.2f} dB mean ({seeds_text(dict.fromkeys(common))}: "
            + "/".join(f"{d:+.2f}" for d in diffs) + f"), min {min(diffs):+.2f}")
    if set(common) != set(rows[a]) | set(rows[b]):
        line += f"; only the seeds both have: {a} {seeds_text(rows[a])}, {b} {seeds_text(rows[b])}"
    return line


def table(rows: dict[str, dict[int | None, dict]], references: dict[str, dict] | None = None,
          pairs: tuple[tuple[str, str], ...] = ()) -> str:
    """The table and its notes. rows: each configuration's metrics.json by seed (None: no seed folders);
    references: the model-free rows (reference_rows); pairs: the --versus pairs."""
    references = references or {}
    cells = {n: {label: spread(runs, section, key) for label, section, key, _ in COLUMNS} for n, runs in rows.items()}
    cells.update({n: {label: spread({None: r}, section, key) for label, section, key, _ in COLUMNS}
                  for n, r in references.items()})
    present = [c for c in COLUMNS if any(row[c[0]] is not None for row in cells.values())]
    best = {}
    for label, _, _, higher in present:
        means = [cells[n][label][0] for n in rows if cells[n][label] is not None]
        if means:
            best[label] = f"{(max if higher else min)(means):.2f}"
    lines = ["| config | fusion | encoder | mask D | " + " | ".join(c[0] for c in present) + " |",
             "|---|---|---|---|" + "---:|" * len(present)]
    settings = {n: [train_config(r) for r in runs.values()] for n, runs in rows.items()}
    for name, row in cells.items():
        cfg = settings[name][0] if name in rows else None
        text = (["-", "-", "-"] if cfg is None else
                [str(cfg.get("fusion", "?")), str(cfg.get("encoder", "?")),
                 {True: "on", False: "off"}.get(cfg.get("mask_d"), "?")])
        for label, *_ in present:
            c = row[label]
            shown = "n/a" if c is None else f"{c[0]:.2f}" + ("" if c[1] is None else f" ± {c[1]:.2f}")
            top = name in rows and c is not None and f"{c[0]:.2f}" == best.get(label)
            text.append(f"**{shown}**" if top else shown)
        lines.append(f"| {name} | " + " | ".join(text) + " |")
    notes = []
    seeded = any(None not in runs for runs in rows.values())
    shared = {k: sorted({str(c.get(k)) for cs in settings.values() for c in cs})
              for k in SHARED if not (seeded and k == "seed")}
    if all(len(v) == 1 for v in shared.values()):
        notes.append("all runs: " + ", ".join(f"{k} {v[0]}" for k, v in shared.items()))
    else:
        notes.append("WARNING: the runs differ in " + ", ".join(f"{k} ({'/'.join(v)})" for k, v in shared.items()
                                                                if len(v) > 1))
    if seeded:
        notes.append("seed varies by design: " + ", ".join(f"{n} {seeds_text(runs)} (n={len(runs)})"
                                                          for n, runs in rows.items())
                     + "; a cell over several seeds is their mean ± sample standard deviation (n - 1)")
        wrong = [f"{n}/seed{s} (seed {c.get('seed')})" for n, runs in rows.items()
                 for s, c in zip(runs, settings[n]) if s is not None and str(c.get("seed")) != str(s)]
        if wrong:
            notes.append("WARNING: trained with another seed than their folder's: " + ", ".join(wrong))
    first = next(iter(next(iter(rows.values())).values()))
    notes.append(f"test split: {first['characters']} character(s), {first['subsets']['360']['images']} '360' "
                 f"image(s), {first['protocol']} protocol, images compared at {first['resolution']} px")
    if references:
        notes.append("rows marked (no model) / (oracle) are model-free references (collect_ablation --help); "
                     "bold marks the best trained configuration")
    missing = sorted({m for runs in rows.values() for r in runs.values() for m in r.get("unavailable", {})})
    if missing:
        notes.append(f"not measured ({', '.join(missing)}): " + "; ".join(
            f"{m}: {first['unavailable'].get(m, 'missing in some runs')}" for m in missing))
    notes += [versus_line(rows, a, b) for a, b in pairs]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def run_files(folder: Path) -> dict[int | None, Path]:
    """A configuration's metrics.json files by seed: one per seed<N> folder (by N), else {None: its own}."""
    seeds = sorted((int(m.group(1)), p) for p in folder.glob("seed*") if (m := SEED_FOLDER.fullmatch(p.name)))
    return {s: p / "metrics.json" for s, p in seeds} or {None: folder / "metrics.json"}


@click.command(cls=OneLineErrors, help=__doc__, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--metrics", type=click.Path(path_type=Path), required=True,
              help="folder with <config>/metrics.json or <config>/seed<N>/metrics.json")
@click.option("--configs", default="", help="space-separated row order (default: every folder, sorted)")
@click.option("--versus", multiple=True, metavar="A:B ...",
              help="space-separated pairs (or the option repeated): a back-PSNR difference line per pair")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="also write the table to this file")
@click.option("--reference", type=click.Path(path_type=Path), default=None, metavar="DATA",
              help="add the model-free reference rows, scored on DATA's test split")
@click.option("--res", type=int, default=64, help="resolution of the reference rows (measure's --res)")
@click.option("--render-res", type=click.IntRange(min=1), default=None, metavar="R",
              help="with --reference: add the ceiling of a render at R x R upsampled bilinearly")
def main(metrics: Path, configs: str, versus: tuple[str, ...], out: Path | None, reference: Path | None,
         res: int, render_res: int | None) -> None:
    """Print (and with --out write) the table of the configurations under --metrics."""
    names = configs.split() or sorted({p.relative_to(metrics).parts[0] for p in
                                       (*metrics.glob("*/metrics.json"), *metrics.glob("*/seed*/metrics.json"))})
    files = {n: run_files(metrics / n) for n in names}
    missing = [str(f.parent.relative_to(metrics)) for runs in files.values() for f in runs.values() if not f.is_file()]
    if missing or not names:
        raise BadInput(f"{metrics}: no metrics.json for {', '.join(missing) or 'any configuration'}")
    pairs = tuple(tuple(pair.split(":")) for option in versus for pair in option.split())
    for pair in pairs:
        if len(pair) != 2 or not set(pair) <= set(names):
            raise BadInput(f"--versus {':'.join(pair)}: not A:B of two configurations of the table ({' '.join(names)})")
    if out is not None:
        writable_folder(out.parent)
    rows = {n: {s: json.loads(f.read_text()) for s, f in runs.items()} for n, runs in files.items()}
    measured = next(iter(next(iter(rows.values())).values()))["characters"]
    references = reference_rows(reference, res, measured, render_res) if reference is not None else None
    text = table(rows, references, pairs)
    click.echo(text, nl=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, text)


if __name__ == "__main__":
    main()
