"""measure / human_measure on the tiny snapshot and the body fixture, with no weight files anywhere."""
from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

from _scripts.eval import human_measure, measure
from training.eval import measure as M
from training.eval.measure import FeatureNets, Tally, score_subset
from training.eval.report import COMMON_TEXT, GEOMETRY_METRICS, IMAGE_METRICS, PROTOCOL_TEXT, SUBSETS, format_markdown
from training.metrics import weights

QUERY = "tiny_test-00000-000000"


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """Every place the weights policy looks is empty (hub cache, weights dir, ~/.cache/clip, per-file vars)."""
    empty = tmp_path / "no-weights"
    empty.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(empty))
    monkeypatch.setenv("NOVA3D_WEIGHTS_DIR", str(empty))
    monkeypatch.setenv("HOME", str(empty))
    for w in weights.REGISTRY.values():
        monkeypatch.delenv(w.env, raising=False)
    monkeypatch.setattr(weights, "_lpips_heads_place", lambda: [])
    return empty


@pytest.fixture
def solid_snapshot(tiny_snapshot, tmp_path_factory):
    """The tiny snapshot with G_ema's density bias raised by 10, so its renders have an opaque surface
    (a 2-step model may have none, and the geometry row would then be empty by design)."""
    state = torch.load(tiny_snapshot, weights_only=True)
    state["G_ema"]["decoder.net.2.bias"][0] += 10.0
    path = tmp_path_factory.mktemp("solid") / tiny_snapshot.relative_to(tiny_snapshot.parents[2])
    path.parent.mkdir(parents=True)
    torch.save(state, path)
    return path


@pytest.fixture
def measured(solid_snapshot, body_root, no_weights, tmp_path_factory):
    out = tmp_path_factory.mktemp("measure")
    result = CliRunner().invoke(measure.main, [
        "--inferquery", QUERY, "--runs", str(solid_snapshot.parents[2]), "--data", str(body_root),
        "--res", "64", "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return result, out


def test_measure_writes_table_and_json(measured, body_root, solid_snapshot):
    result, out = measured
    data = json.loads((out / "metrics.json").read_text())
    assert data["protocol"] == "standard" and data["snapshot"] == QUERY
    assert data["snapshot_path"] == str(solid_snapshot) and data["data"] == str(body_root)
    assert data["trained_images"] == 4  # the fixture's run: kimg 0.004 (its snapshot's progress)
    assert data["split"] == "test" and data["characters"] == 1 and data["preset"] == "body"
    assert list(data["subsets"]) == list(SUBSETS)
    counts = {s: row["images"] for s, row in data["subsets"].items()}
    assert counts == {"front": 1, "back": 1, "left": 1, "right": 1, "360": 12}  # the rgb60 ring
    for s, row in data["subsets"].items():
        assert set(row) == {"images", *IMAGE_METRICS}
        assert math.isfinite(row["psnr"]) and 0 < row["ssim"] <= 100, s
        assert row["lpips"] is None and row["clip"] is None and row["fid"] is None
    assert set(data["unavailable"]) == {"lpips", "clip", "fid"}
    for metric, name in (("lpips", "alexnet"), ("clip", "clip_vit_b32"), ("fid", "inception_fid")):
        assert data["unavailable"][metric] == weights.describe_missing(name)
    geo = data["geometry"]
    assert geo["characters"] == 1 and all(math.isfinite(geo[m]) for m in GEOMETRY_METRICS)
    assert geo["chamfer"] > 0 and 0 <= geo["f1@5"] <= geo["f1@10"] <= 100

    md = (out / "metrics.md").read_text()
    assert md.startswith("# NOVA-3D metrics: standard protocol")
    assert f"snapshot: {QUERY}" in md and "1 character(s)" in md
    for s in SUBSETS:
        assert f"| {s} | " in md
    assert "| all | 1 |" in md
    assert md.count("n/a (weights missing:") == 3  # once per metric, not per cell
    assert md in result.output  # printed too


def test_measure_strict_fails_in_one_line(tiny_snapshot, body_root, no_weights, tmp_path):
    result = CliRunner().invoke(measure.main, [
        "--ckpt", str(tiny_snapshot), "--data", str(body_root), "--out", str(tmp_path / "o"), "--strict",
        "--device", "cpu"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "weights missing: alexnet-owt-7be5be79.pth" in lines[0], result.output
    assert not (tmp_path / "o").exists()


def test_measure_usage_errors(tiny_snapshot, body_root, tmp_path):
    runner = CliRunner()
    neither = runner.invoke(measure.main, ["--data", str(body_root)])
    assert neither.exit_code == 2 and "exactly one of --inferquery and --ckpt" in neither.output
    bad = runner.invoke(measure.main, ["--inferquery", "tiny_test-00000-000999", "--runs",
                                       str(tiny_snapshot.parents[2]), "--data", str(body_root)])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1 and "not found" in bad.output


def test_human_measure_accepts_the_readme_flags(tiny_snapshot, body_root, no_weights, tmp_path, monkeypatch):
    """The README's command, with $PROJECT_DN laid out as the original expects (runs and data under it)."""
    project = tmp_path / "project"
    (project / "_train" / "eg3dc").mkdir(parents=True)
    (project / "_data").mkdir()
    (project / "_train" / "eg3dc" / "runs").symlink_to(tiny_snapshot.parents[2])
    (project / "_data" / "lustrous").symlink_to(body_root)
    monkeypatch.setenv("PROJECT_DN", str(project))
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(human_measure.main, ["--inferquery", QUERY, "--res", "32", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    written = tmp_path / "temp" / "eval" / QUERY / "test-standard"
    data = json.loads((written / "metrics.json").read_text())
    assert data["preset"] == "body" and list(data["subsets"]) == list(SUBSETS)
    # --dataset multi is the head preset: accepted, and refused in one line for this body snapshot
    multi = runner.invoke(human_measure.main, ["--inferquery", QUERY, "--dataset", "multi", "--device", "cpu"])
    assert multi.exit_code == 2 and len(multi.output.strip().splitlines()) == 1
    assert "'body' preset's box, not 'head'" in multi.output


class Recorder(torch.nn.Module):
    """Stands in for LPIPS and records the value range it is fed."""

    def __init__(self):
        super().__init__()
        self.seen: list[tuple[float, float]] = []

    def forward(self, a, b):
        self.seen.append((min(a.min().item(), b.min().item()), max(a.max().item(), b.max().item())))
        return (a - b).abs().flatten(1).mean(1)


@pytest.mark.parametrize("protocol, low", [("standard", -1.0), ("paper", 0.0)])
def test_lpips_input_range_per_protocol(protocol, low):
    pred = torch.zeros(2, 3, 32, 32)
    true = torch.ones(2, 3, 32, 32)
    nets = FeatureNets(lpips=Recorder())
    tally = Tally()
    score_subset(tally, "front", pred, true, nets, protocol, torch.device("cpu"))
    assert nets.lpips.seen == [(low, 1.0)]
    assert tally.images["front"] == 2 and len(tally.values["front"]["lpips"]) == 1


def test_paper_header_and_small_fid_cells():
    results = {"protocol": "paper", "protocol_text": PROTOCOL_TEXT["paper"],
               "common_text": COMMON_TEXT.format(res=512), "render_text": "rendered as generate", "snapshot": "q", "snapshot_path": "p",
               "data": "d", "preset": "body", "renderset": "r", "split": "test", "characters": 1,
               "subsets": {s: {"images": 1 if s != "360" else 12, "psnr": 1.0, "ssim": 2.0, "lpips": 3.0, "clip": 4.0,
                               "fid": None if s != "360" else 5.0} for s in SUBSETS},
               "geometry": {"characters": 1, "chamfer": 1.0, "f1@5": 2.0, "f1@10": 3.0}, "unavailable": {},
               "notes": []}
    md = format_markdown(results)
    assert md.startswith("# NOVA-3D metrics: paper protocol")
    assert "LPIPS AlexNet v0.1 fed [0, 1] images" in md and "reproduces the original" in md
    assert "| front | 1 | 1.000 | 2.000 | 3.000 | 4.000 | n/a (1 image) |" in md
    assert "| 360 | 12 | 1.000 | 2.000 | 3.000 | 4.000 | 5.000 |" in md


def test_empty_predicted_surface_counts_with_the_worst_scores():
    tally = Tally()
    xyz = torch.rand(2, 3, 8, 8)
    true = {"xyz": xyz, "alpha": torch.ones(2, 1, 8, 8)}
    M.score_geometry(tally, "c1", {"xyz": xyz, "alpha": torch.zeros(2, 1, 4, 4)}, true, 2.1, torch.device("cpu"))
    M.score_geometry(tally, "c2", {"xyz": xyz, "alpha": torch.ones(2, 1, 8, 8)}, true, 2.1, torch.device("cpu"))
    worst = 100 * math.sqrt(3) * 2.1  # the box diagonal
    assert tally.empty_surfaces == ["c1"]
    assert tally.geometry == {"chamfer": [pytest.approx(worst), 0.0], "f1@5": [0.0, 100.0], "f1@10": [0.0, 100.0]}
    _, geometry, notes = M.summarize(tally, FeatureNets(), 2.1)
    assert geometry == {"characters": 2, "chamfer": pytest.approx(worst / 2), "f1@5": 50.0, "f1@10": 50.0}
    assert any("no predicted surface" in n and "counted in the means" in n and f"{worst:.1f}" in n for n in notes)
