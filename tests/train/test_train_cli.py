"""The trainer's command line: a resumed run takes its training config from the snapshot, and flags
that would change the run are refused in one line (exit 2) unless --override-config (never those that
shape the networks); bad data is refused before any compute, and a file that fails later in a loader
worker is one line too."""
import shutil

import pytest
from click.testing import CliRunner
from PIL import Image

from _train.train import main
from training.data.layout import Renderset, read_split, split_path


def _resume(snapshot, *flags: str):
    return CliRunner().invoke(main, ["--name", "x", "--resume", str(snapshot), "--dry-run", *flags])


def test_resume_takes_the_snapshots_training_config(tiny_snapshot):
    result = _resume(tiny_snapshot)  # the flags' defaults (body, batch 16) are not asked for
    assert result.exit_code == 0, result.output
    assert "preset='tiny'" in result.output and "batch=2," in result.output
    assert f"run_dir='{tiny_snapshot.parent}'" in result.output
    result = _resume(tiny_snapshot, "--kimg", "1", "--workers", "0")  # the run's length may change
    assert result.exit_code == 0, result.output
    assert "kimg=1.0," in result.output and "batch=2," in result.output


def test_resume_refuses_flags_that_change_the_run(tiny_snapshot):
    result = _resume(tiny_snapshot, "--batch", "4", "--gamma", "2", "--kimg", "1")
    assert result.exit_code == 2
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert "--batch 4 (snapshot: 2)" in result.stderr and "--gamma 2.0 (snapshot: 5.0)" in result.stderr
    assert "--kimg" not in result.stderr and "--override-config" in result.stderr
    result = _resume(tiny_snapshot, "--batch", "4", "--override-config")
    assert result.exit_code == 0, result.output
    assert "batch=4," in result.output and "preset='tiny'" in result.output


def test_resume_refuses_flags_that_change_the_networks_even_with_override(tiny_snapshot):
    result = _resume(tiny_snapshot, "--preset", "body", "--override-config")  # the weights are tiny's
    assert result.exit_code == 2
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert "--preset 'body' (snapshot: 'tiny') would change the networks" in result.stderr


def _train(data, outdir, *flags: str):
    return CliRunner().invoke(main, ["--name", "run", "--preset", "tiny", "--data", str(data), "--outdir",
                                     str(outdir), "--batch", "2", "--kimg", "0.002", "--device", "cpu", *flags])


@pytest.fixture
def data_copy(body_root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(body_root, data)
    return data, Renderset(data, "human_rutileE"), read_split(split_path(data, "human_rutileEB", "train"))


def test_bad_data_is_refused_before_any_compute(data_copy, tmp_path):
    data, rs, train_ids = data_copy
    path = rs.path("rgb", train_ids[-1], "0001")
    Image.open(path).convert("RGB").save(path)  # read as opaque: the background would become the character
    result = _train(data, tmp_path / "runs", "--workers", "0")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [f"error: {path}: RGB PNG, expected RGBA (colour with alpha)",
                                                  "error: 1 problem(s) in the data; nothing was done"]
    assert "perceptual loss" not in result.stdout  # refused before the networks and losses were built
    assert not (tmp_path / "runs" / "run").exists()


def test_a_file_that_fails_in_a_loader_worker_is_one_line(data_copy, tmp_path):
    data, rs, train_ids = data_copy
    for cid in train_ids:  # every item reads its front view; the header stays whole, the pixels are cut off
        path = rs.path("ortho", cid, "front")
        path.write_bytes(path.read_bytes()[:60])
    result = _train(data, tmp_path / "runs")  # the default --workers 2
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    assert lines[0].startswith(f"error: {rs.dir / 'ortho'}") and "front.png: unreadable or truncated PNG" in lines[0]
    assert not (tmp_path / "runs" / "run").exists()
