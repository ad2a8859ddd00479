"""The trainer's command line: a resumed run takes its training config from the snapshot, and flags
that would change the run are refused in one line (exit 2) unless --override-config."""
from click.testing import CliRunner

from _train.train import main


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
