"""collect_ablation on hand-written metrics.json files (one run or one per seed), and the ablation script's
seed layout. The script's training and resume paths take minutes even at KIMG=0.002 (four training and
four measure processes), so its resume decision is tested through run_state (tests/train/test_run_files.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from _scripts.eval import collect_ablation

REPO = Path(__file__).resolve().parents[2]
# back, front and 360 PSNR per seed: attention's back mean is higher, front_only's front mean is higher
# although attention has the highest single front value (bold goes by the mean)
BACK = {"attention": (25.0, 25.5, 26.3), "front_only": (22.0, 22.4, 22.9)}
FRONT = {"attention": (20.0, 21.0, 22.0), "front_only": (21.5, 21.5, 21.5)}


def write_run(folder: Path, fusion: str, back: float, front: float, seed: int, kimg: float = 5.8,
              trained_images: int | None = None) -> None:
    """A metrics.json in measure's shape, its snapshot_path in a run folder whose config.json has the settings."""
    run = folder / "run"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"fusion": fusion, "encoder": "pat", "mask_d": True, "kimg": kimg,
                                                 "batch": 1, "seed": seed, "preset": "tiny"}))
    subsets = {"front": {"images": 2, "psnr": front, "ssim": 80.0}, "back": {"images": 2, "psnr": back, "ssim": 70.0},
               "360": {"images": 24, "psnr": 20.0, "ssim": 60.0}}
    (folder / "metrics.json").write_text(json.dumps({
        "subsets": subsets, "geometry": {}, "characters": 2, "protocol": "standard", "resolution": 64,
        "snapshot_path": str(run / "network-snapshot-000005.800.pt"), "trained_images": trained_images}))


def seeded(root: Path, seeds: tuple[int, ...] = (0, 1, 2)) -> Path:
    """root/<config>/seed<N>/metrics.json of attention and front_only; the i-th seed has the i-th values."""
    for cfg in BACK:
        for i, seed in enumerate(seeds):
            write_run(root / cfg / f"seed{seed}", cfg, BACK[cfg][i], FRONT[cfg][i], seed)
    return root


def run(*args: object) -> Result:
    return CliRunner().invoke(collect_ablation.main, [str(a) for a in args])


def test_seed_cells_are_mean_and_sample_sd(tmp_path):
    result = run("--metrics", seeded(tmp_path), "--configs", "attention front_only")
    assert result.exit_code == 0, result.output
    rows = {cells[0]: cells[4:] for cells in ([c.strip() for c in line.strip("|").split("|")]
                                              for line in result.output.splitlines()[2:4])}
    # attention back: mean 25.6, deviations -0.6/-0.1/+0.7, sd sqrt(0.86 / 2) = 0.656
    # front_only back: mean 22.433, deviations -0.433/-0.033/+0.467, sd sqrt(0.40667 / 2) = 0.451
    # front: attention mean 21.0, sd sqrt(2 / 2) = 1.0; front_only 21.5, sd 0
    assert rows["attention"][0] == "**25.60 ± 0.66**" and rows["front_only"][0] == "22.43 ± 0.45"
    assert rows["attention"][4] == "21.00 ± 1.00" and rows["front_only"][4] == "**21.50 ± 0.00**"
    assert rows["attention"][2] == "**20.00 ± 0.00**" == rows["front_only"][2]  # 360: a tie, both bold
    assert "- all runs: kimg 5.8, batch 1, preset tiny\n" in result.output  # seed is not a shared setting here
    assert "WARNING" not in result.output
    assert "attention seeds 0/1/2 (n=3), front_only seeds 0/1/2 (n=3)" in result.output
    assert "sample standard deviation" in result.output


def test_versus_lines_match_seeds_by_number(tmp_path):
    metrics = seeded(tmp_path, seeds=(2, 10, 3))  # read in seed order 2/3/10, whatever the folders' order
    result = run("--metrics", metrics, "--versus", "attention:front_only", "--versus", "front_only:attention")
    assert result.exit_code == 0, result.output
    # seed 2: 25.0 - 22.0, seed 10: 25.5 - 22.4, seed 3: 26.3 - 22.9 -> seeds 2/3/10: 3.0/3.4/3.1, mean 3.1667
    assert ("- attention − front_only, back PSNR: +3.17 dB mean (seeds 2/3/10: +3.00/+3.40/+3.10), min +3.00\n"
            in result.output)
    assert ("- front_only − attention, back PSNR: -3.17 dB mean (seeds 2/3/10: -3.00/-3.40/-3.10), min -3.40\n"
            in result.output)
    both = run("--metrics", metrics, "--versus", "attention:front_only front_only:attention")
    assert both.output == result.output  # one option with space-separated pairs is the same


def test_versus_pairs_the_seeds_both_configurations_have(tmp_path):
    seeded(tmp_path)  # attention back PSNR by seed 0/1/2: 25.0/25.5/26.3
    write_run(tmp_path / "concat" / "seed0", "concat", 24.0, 21.0, 0)
    write_run(tmp_path / "mean" / "seed1", "mean", 24.5, 21.0, 1)
    write_run(tmp_path / "mean" / "seed2", "mean", 25.3, 21.0, 2)
    write_run(tmp_path / "mean" / "seed5", "mean", 20.0, 21.0, 5)
    result = run("--metrics", tmp_path, "--versus", "attention:concat concat:attention attention:mean")
    assert result.exit_code == 0, result.output
    assert ("- attention − concat, back PSNR: +1.00 dB mean (seed 0: +1.00), min +1.00; "
            "only the seeds both have: attention seeds 0/1/2, concat seed 0\n" in result.output)
    assert ("- concat − attention, back PSNR: -1.00 dB mean (seed 0: -1.00), min -1.00; "
            "only the seeds both have: concat seed 0, attention seeds 0/1/2\n" in result.output)
    # same number of seeds, partly the same ones: 25.5 - 24.5, 26.3 - 25.3
    assert ("- attention − mean, back PSNR: +1.00 dB mean (seeds 1/2: +1.00/+1.00), min +1.00; "
            "only the seeds both have: attention seeds 0/1/2, mean seeds 1/2/5\n" in result.output)
    assert "concat seed 0 (n=1)" in result.output


def test_versus_needs_two_configurations_with_a_seed_in_common(tmp_path):
    seeded(tmp_path)
    write_run(tmp_path / "concat" / "seed7", "concat", 24.0, 21.0, 7)
    write_run(tmp_path / "mean", "mean", 24.0, 21.0, 0)  # one run, no seed folders
    for pair, message in (("attention:concat", "--versus attention:concat: no seed in common (seeds 0/1/2 vs seed 7)"),
                          ("mean:attention", "--versus mean:attention: mean is one run without seed<N> folders"),
                          ("attention:max", "--versus attention:max: not A:B of two configurations"),
                          ("attention", "--versus attention: not A:B")):
        result = run("--metrics", tmp_path, "--versus", pair)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output


def test_single_runs_keep_the_plain_table(tmp_path):
    write_run(tmp_path / "attention", "attention", 25.76, 25.92, 0, kimg=2.4)
    write_run(tmp_path / "concat", "concat", 24.5, 26.0, 0, kimg=2.4)
    result = run("--metrics", tmp_path, "--versus", "attention:concat")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "| config | fusion | encoder | mask D | back PSNR | back SSIM x100 | 360 PSNR | 360 SSIM x100 | front PSNR |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|\n"
        "| attention | attention | pat | on | **25.76** | **70.00** | **20.00** | **60.00** | 25.92 |\n"
        "| concat | concat | pat | on | 24.50 | **70.00** | **20.00** | **60.00** | **26.00** |\n"
        "\n"
        "- all runs: kimg 2.4, batch 1, seed 0, preset tiny\n"
        "- test split: 2 character(s), 24 '360' image(s), standard protocol, images compared at 64 px\n"
        "- attention − concat, back PSNR: +1.26 dB mean (one run: +1.26), min +1.26\n")


def test_length_is_what_the_measured_snapshot_trained(tmp_path):
    """A run configured for 50 kimg but stopped by --minutes at 5871 images shows 5.871, not 50; so the two
    runs below, configured differently, trained the same length and no warning is given."""
    write_run(tmp_path / "a", "attention", 25.0, 25.0, 0, kimg=50.0, trained_images=5871)
    write_run(tmp_path / "b", "concat", 24.0, 25.0, 0, kimg=5.871, trained_images=5871)
    result = run("--metrics", tmp_path)
    assert result.exit_code == 0, result.output
    assert "- all runs: kimg 5.871, batch 1, seed 0, preset tiny\n" in result.output


def test_differing_settings_still_warn(tmp_path):
    seeded(tmp_path)
    write_run(tmp_path / "front_only" / "seed7", "front_only", 22.0, 21.0, 1)  # a run trained with seed 1
    write_run(tmp_path / "flat", "attention", 25.0, 21.0, 4, kimg=1.0)  # one run with another length
    result = run("--metrics", tmp_path)
    assert result.exit_code == 0, result.output
    assert "- WARNING: the runs differ in kimg (1.0/5.8)\n" in result.output
    assert "flat one run (n=1)" in result.output
    assert "- WARNING: trained with another seed than their folder's: front_only/seed7 (seed 1)\n" in result.output


def test_a_missing_seed_file_is_one_line(tmp_path):
    seeded(tmp_path)
    (tmp_path / "front_only" / "seed1" / "metrics.json").unlink()
    for args in ((), ("--configs", "attention front_only")):
        result = run("--metrics", tmp_path, *args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.output
        assert lines[0].endswith(f"{tmp_path}: no metrics.json for front_only/seed1")


def test_ablation_script_keeps_measured_seeds_and_collects_them(body_root, tmp_path):
    """Every run already measured: the script walks the seed layout, keeps each one and writes the table."""
    out = tmp_path / "out"
    seeded(out / "metrics", seeds=(0, 1))
    env = dict(os.environ, OUT=str(out), DATA=str(body_root), SEEDS="0 1", CONFIGS="attention front_only",
               VERSUS="attention:front_only", PYTHON=sys.executable, PROJECT_DN=str(REPO), OMP_NUM_THREADS="1")
    result = subprocess.run(["sh", str(REPO / "_train/eg3dc/runs/ablations_synth.sh")], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for tag, folder in (("attention_s0", "attention/seed0"), ("attention_s1", "attention/seed1"),
                        ("front_only_s0", "front_only/seed0"), ("front_only_s1", "front_only/seed1")):
        assert f"== {tag}: {out}/metrics/{folder}/metrics.json exists, kept" in result.stdout
    table = (out / "ablation.md").read_text()
    assert "| attention | attention | pat | on | **25.25 ± 0.35** |" in table  # 25.0 and 25.5: sd 0.5 / sqrt(2)
    assert "| white (no model) |" in table  # the reference rows, on DATA
    assert "- attention − front_only, back PSNR: +3.05 dB mean (seeds 0/1: +3.00/+3.10), min +3.00\n" in table
    assert not (out / "runs").exists() and not (out / "data").exists()  # nothing trained, no dataset made


def test_reference_rows_score_the_measured_characters_only(body_root, tmp_path):
    """The model-free rows cover the first `limit` test characters, as measure --limit does: with a second
    character appended to the split list, limit 1 scores exactly what the one-character list scores, and
    no limit scores something else. Known answer: 'white' against a view is the PSNR of a white image."""
    import shutil

    import torch

    from training.metrics.image import protocol_psnr
    root = tmp_path / "data"
    shutil.copytree(body_root, root)
    test_csv = next((root / "subsets").glob("*_test.csv"))
    val_id = next((root / "subsets").glob("*_val.csv")).read_text().split()[0]
    one = collect_ablation.reference_rows(root, 32)
    test_csv.write_text(test_csv.read_text().rstrip("\n") + f"\n{val_id}\n")  # the val character has the grid too
    assert collect_ablation.reference_rows(root, 32, limit=1) == one
    assert collect_ablation.reference_rows(root, 32)["white (no model)"] != one["white (no model)"]
    test_id = test_csv.read_text().split()[0]
    front = collect_ablation._rgba(next(root.glob(f"renders/*/ortho/{test_id[-1]}/{test_id}/front.png")), 32)
    true = (front[:, :3] * front[:, 3:] + 1 - front[:, 3:]).mul(255).round().div(255)
    expected = protocol_psnr(torch.ones_like(true), true).mean().item()
    assert abs(one["white (no model)"]["subsets"]["front"]["psnr"] - expected) < 1e-6


def test_best_upsampled_is_the_least_squares_render():
    """Known answers: an image that is a bilinear upsampling of an 8x8 one is returned as it is; for any other,
    the fit is at least as close as upsampling its area-downsampled image, and the residual is orthogonal to
    every upsampled 8x8 image (the normal equations of least squares)."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(0)
    low = torch.rand(2, 3, 8, 8, generator=gen, dtype=torch.float64)
    exact = F.interpolate(low, size=16, mode="bilinear", align_corners=False)
    assert torch.allclose(collect_ablation.best_upsampled(exact, 8), exact, atol=1e-10)
    true = torch.rand(2, 3, 16, 16, generator=gen, dtype=torch.float64)
    best = collect_ablation.best_upsampled(true, 8)
    naive = F.interpolate(F.interpolate(true, size=8, mode="area"), size=16, mode="bilinear", align_corners=False)
    assert (best - true).square().sum() < (naive - true).square().sum()
    probe = F.interpolate(torch.rand(1, 1, 8, 8, generator=gen, dtype=torch.float64), size=16, mode="bilinear",
                          align_corners=False)
    assert ((best - true) * probe).sum((-1, -2)).abs().max() < 1e-10
