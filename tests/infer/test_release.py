"""A release file (training/infer/release.py): G_ema in float16 with its configs, loaded like a snapshot."""
import pytest
import torch
from click.testing import CliRunner

from _scripts import release as release_cli
from training.data.layout import PRESETS
from training.infer.cameras import ortho_views
from training.infer.load import load_generator
from training.infer.release import release_state, sha256_of
from training.infer.render import make_character_planes, render_views


def test_release_is_smaller_and_renders_as_the_snapshot(tiny_snapshot, tmp_path):
    out = tmp_path / "released" / "model.pt"
    result = CliRunner().invoke(release_cli.main, ["--ckpt", str(tiny_snapshot), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sha256_of(out) in result.output
    assert out.stat().st_size < tiny_snapshot.stat().st_size / 4  # no G, D, optimisers; float16
    state = torch.load(out, weights_only=True)
    assert state["release"]["snapshot_sha256"] == sha256_of(tiny_snapshot)
    assert all(v.dtype == torch.float16 for v in state["G_ema"].values() if v.is_floating_point())
    images = []
    for path in (tiny_snapshot, out):
        G = load_generator(path).G
        torch.manual_seed(0)
        cond = torch.rand(1, 3, 64, 64) * 2 - 1
        planes = make_character_planes(G, cond, cond.flip(-1))
        labels = ortho_views(PRESETS["body"]).labels[:2]
        images.append(next(render_views(G, planes, labels)).image)
    assert (images[0] - images[1]).abs().max() < 2 / 255  # float16 weights: within a level or two


def test_release_refuses_a_file_that_is_no_snapshot(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"weights": torch.zeros(2)}, bad)
    with pytest.raises(ValueError, match="not a NOVA-3D training snapshot"):
        release_state(bad)
    result = CliRunner().invoke(release_cli.main, ["--ckpt", str(bad), "--out", str(tmp_path / "o.pt")])
    assert result.exit_code == 1 and "not a NOVA-3D training snapshot" in result.output
    assert not (tmp_path / "o.pt").exists()
