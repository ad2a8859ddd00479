"""generate / human_generate on the tiny trained snapshot, and the camera sets and batching behind them."""
import json
import os

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from _scripts.eval import generate, human_generate
from training.infer import cameras as C
from training.infer import render as T
from training.data.layout import GRID_AZIMS, PRESETS, SPIN_INDICES
from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.infer.export import OutputOptions, open_split
from training.infer.load import load_generator
from training.infer.manifest import generate_settings, other_settings

QUERY = "tiny_test-00000-000000"
FAST = ["--res", "16", "--samples", "4"]  # 8 x 8 rays per view, 8 samples per ray
VIEWS = [f"ortho_{v}" for v in ("front", "back", "left", "right")] + [f"spin_{i:02d}" for i in range(12)]


def _args(tiny_snapshot, body_root, out, *extra):
    return ["--inferquery", QUERY, "--runs", str(tiny_snapshot.parents[2]), "--data", str(body_root),
            "--out", str(out), *FAST, *extra]


def _test_id(body_root):
    return NovaHumanDataset(DatasetConfig(root=str(body_root), split="test", resolution=8, cond_resolution=8)).ids[0]


@pytest.fixture(scope="module")
def first_run(tiny_snapshot, body_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen1")
    rc = generate.main(_args(tiny_snapshot, body_root, out, "--video", "--frames", "8", "--mesh", "--mesh-res", "16",
                             "--mesh-level", "0.001", "--faces", "600", "--texture-size", "64", "--batch", "3"),
                       standalone_mode=False)
    assert rc == 0
    return out / _test_id(body_root)


def test_generate_writes_every_promised_file(first_run):
    char = first_run
    for name in VIEWS:
        assert iio.imread(char / f"{name}.png").shape == (16, 16, 3)
        assert iio.imread(char / "xyza" / f"{name}.png").shape == (16, 16, 4)
    for side in ("front", "back"):
        assert iio.imread(char / f"input_{side}.png").shape == (64, 64, 3)  # the tiny model's cond_resolution
    for video in ("turntable.mp4", "turntable.gif"):
        assert iio.imread(char / video, index=None).shape == (8, 16, 16, 3)
    manifest = json.loads((char.parent / "manifest.json").read_text())
    assert manifest["characters"] == [char.name] and manifest["query"] == QUERY and manifest["preset"] == "body"


def test_generate_mesh_loads_with_colours(first_run):
    trimesh = pytest.importorskip("trimesh")  # test-only reference
    # level 0.001: the barely trained field is a faint fog filling the box, so the mesh is the box,
    # closed by the grid's zero padding; simplified to --faces, textured in .glb/.obj, vertex colours in .ply
    (ply,) = trimesh.load(first_run / "mesh.ply", process=False, force="scene").geometry.values()
    assert 0 < len(ply.faces) <= 600 and len(ply.visual.vertex_colors) == len(ply.vertices)
    for fmt in ("glb", "obj"):
        (mesh,) = trimesh.load(first_run / f"mesh.{fmt}", process=False, force="scene").geometry.values()
        assert len(mesh.faces) == len(ply.faces) and len(mesh.visual.uv) == len(mesh.vertices)
        image = mesh.visual.material.baseColorTexture if fmt == "glb" else mesh.visual.material.image
        assert image.size == (64, 64)  # the textured copies split vertices along UV seams: not watertight
    assert np.abs(ply.vertices).max() == pytest.approx(PRESETS["body"].boxwarp / 2)


def test_generate_is_deterministic(first_run, tiny_snapshot, body_root, tmp_path):
    rc = generate.main(_args(tiny_snapshot, body_root, tmp_path, "--ids", first_run.name), standalone_mode=False)
    assert rc == 0
    for name in VIEWS:
        assert (tmp_path / first_run.name / f"{name}.png").read_bytes() == (first_run / f"{name}.png").read_bytes()
    assert not (tmp_path / first_run.name / "turntable.mp4").exists()


def test_human_generate_accepts_the_readme_flags(tiny_snapshot, body_root, tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    (project / "_train" / "eg3dc").mkdir(parents=True)
    (project / "_data").mkdir()
    os.symlink(tiny_snapshot.parents[2], project / "_train" / "eg3dc" / "runs")
    os.symlink(body_root, project / "_data" / "lustrous")
    monkeypatch.setenv("PROJECT_DN", str(project))
    readme = ["--generator_module", "training.triplane.TriPlaneGenerator_v1", "--dataset", "human",
              "--inferquery", QUERY]
    assert human_generate.main(readme + FAST, standalone_mode=False) == 0
    err = capsys.readouterr().err
    assert "--generator_module training.triplane.TriPlaneGenerator_v1 ignored" in err
    out = project / "_data" / "results" / QUERY / "test" / _test_id(body_root)
    assert all((out / f"{name}.png").is_file() for name in VIEWS)
    # multi = the head preset, whose box a body snapshot cannot render: one line, exit code 2
    assert human_generate.main(["--inferquery", QUERY, "--dataset", "multi", "--generator_module", "x"] + FAST,
                               standalone_mode=False) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error:") and "head preset" in lines[-1]


def test_an_out_of_other_settings_is_refused(first_run, tiny_snapshot, body_root, capsys):
    out = first_run.parent  # written with --video --mesh
    files = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert generate.main(_args(tiny_snapshot, body_root, out), standalone_mode=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out}: holds output made with other settings (")
    assert "video True (this run: False)" in err[0] and "mesh True (this run: False)" in err[0]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == files  # nothing written


def test_the_settings_compared_are_those_the_manifest_records(first_run, tiny_snapshot, body_root):
    loaded = load_generator(tiny_snapshot)
    ds = open_split(body_root, loaded, "body", "test")
    opts = OutputOptions(size=16, batch=3, video=True, frames=8, mesh=True, mesh_res=16, faces=600,
                         texture_size=64)  # first_run's flags
    settings = generate_settings(loaded, QUERY, ds, opts)
    manifest = json.loads((first_run.parent / "manifest.json").read_text())
    assert set(manifest) - {"characters"} == set(settings)
    assert other_settings(first_run.parent, settings) == []  # the same settings may add characters


@pytest.mark.parametrize("problem", ["no_snapshot", "bad_data", "bad_id", "bad_flag"])
def test_generate_errors_are_one_line(problem, tiny_snapshot, body_root, tmp_path, capsys):
    args = _args(tiny_snapshot, body_root, tmp_path)
    expect = {"no_snapshot": "not found", "bad_data": "data root not found", "bad_id": "not in the test split",
              "bad_flag": "--mesh-formats"}[problem]
    if problem == "no_snapshot":
        args[1] = "tiny_test-00000-000099"
    elif problem == "bad_data":
        args[5] = str(tmp_path / "nowhere")
    elif problem == "bad_id":
        args += ["--ids", "12345"]
    else:
        args += ["--mesh-formats", "stl"]
    assert generate.main(args, standalone_mode=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and expect in err[0]


def test_every_flag_is_explained():
    from _scripts import reconstruct

    for command in (generate.main, human_generate.main, reconstruct.main):
        for param in command.params:
            assert param.help and len(param.help) > 10, param.opts


def test_camera_sets():
    body = PRESETS["body"]
    ortho = C.ortho_views(body)
    assert ortho.names == VIEWS[:4]
    assert torch.equal(ortho.labels[2], body.ortho_params("left").label())
    spin = C.spin_views(body)
    assert spin.names == VIEWS[4:] and torch.equal(spin.labels, torch.stack([body.grid_params(k).label()
                                                                               for k in SPIN_INDICES]))
    assert torch.allclose(spin.labels[0], body.params(0.0, GRID_AZIMS[0]).label())
    turn = C.turntable_views(body, 8)
    assert len(turn.names) == 8 and torch.allclose(turn.labels[2], body.params(0.0, 90.0).label())
    with pytest.raises(ValueError):
        C.turntable_views(body, 0)


def test_batched_rendering_matches_one_camera_at_a_time(tiny_snapshot, body_root):
    G = load_generator(tiny_snapshot).G
    item = NovaHumanDataset(DatasetConfig(root=str(body_root), split="test", resolution=8, cond_resolution=64))[0]
    planes = T.make_character_planes(G, item["cond_front"], item["cond_back"])
    labels = C.spin_views(PRESETS["body"]).labels[:3]
    assert T.neural_size(G, 16) == 8 and T.neural_size(G, 64) == 32 and T.neural_size(G, 256) == 32
    one = np.concatenate([f.rgb for f in T.render_views(G, planes, labels, 16, batch=1)])
    many = list(T.render_views(G, planes, labels, 16, batch=2))
    assert [len(f.rgb) for f in many] == [2, 1]
    assert np.abs(one.astype(int) - np.concatenate([f.rgb for f in many])).max() <= 1


def test_ids_takes_several_values_as_before():
    """--ids A B (argparse's nargs='+' before the move to click) and repeated --ids both work."""
    ctx = generate.main.make_context("generate", ["--inferquery", QUERY, "--ids", "a", "b", "--res", "16",
                                                  "--ids", "c"])
    assert ctx.params["ids"] == ("a", "b", "c") and ctx.params["res"] == 16


def test_without_super_resolution_one_ray_per_output_pixel(tiny_snapshot, body_root):
    """A --no-sr model has nothing to bring a small render up with: render_views renders it at the output
    size, so its images equal a render of that many rays (not a smaller render resized)."""
    from dataclasses import replace

    from training.infer.load import load_generator as load

    loaded = load(tiny_snapshot)
    cfg = replace(loaded.G.cfg, sr=replace(loaded.G.cfg.sr, enabled=False))
    G = T.NovaGenerator(cfg).eval().requires_grad_(False)
    G.load_state_dict({k: v for k, v in loaded.G.state_dict().items() if not k.startswith("superresolution.")})
    item = NovaHumanDataset(DatasetConfig(root=str(body_root), split="test", resolution=8, cond_resolution=64))[0]
    planes = T.make_character_planes(G, item["cond_front"], item["cond_back"])
    assert [T.neural_size(G, s) for s in (16, 48, 96)] == [16, 48, 96]
    labels = C.spin_views(PRESETS["body"]).labels[:2]
    views = next(T.render_views(G, planes, labels, 48))
    with torch.no_grad():
        direct = G.renderer(G.field(planes.expand(2)), labels, 48, G.cfg.near, G.cfg.far)
    assert views.image.shape[-1] == 48 and views.alpha.shape[-1] == 48
    assert torch.allclose(views.image, (direct.rgb + 1) / 2, atol=1e-5)


def test_a_manifest_from_before_a_setting_existed_is_compared_as_without_it(first_run, tiny_snapshot, body_root, tmp_path):
    """A folder written before carving and the fit to the drawings were recorded holds neither: a run
    with the fit on is refused there, one with both off is not."""
    from training.infer.manifest import reconstruct_settings
    from training.infer.refine import RefineSettings

    loaded = load_generator(tiny_snapshot)
    opts = OutputOptions(size=16, batch=3)
    fitted = reconstruct_settings(loaded, QUERY, "body", opts, True, 0.1, 1, RefineSettings())
    old = {k: v for k, v in fitted.items() if k not in ("refine", "carve")}
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    assert [line.split()[0] for line in other_settings(tmp_path, fitted)] == ["refine"]
    assert other_settings(tmp_path, reconstruct_settings(loaded, QUERY, "body", opts, True, 0.1, 1,
                                                         RefineSettings(steps=0))) == []
