"""What a run leaves on disk: every snapshot of a short run kept and resolvable by query, whether a run
folder is new, to resume or done, one metrics.jsonl line per tick across a resume (which also removes the
temporary files of a killed run), and no run folder for a dataset that cannot be read."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from _train.train import main
from training.train.config import TrainConfig
from training.train.loop import Trainer
from training.train.loss import LossConfig
from training.train.runs import resolve_inferquery
from training.train.snapshot import list_snapshots, load_snapshot, resolve_snapshot, run_state


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Tiny networks: one thread avoids synchronisation overhead."""


@pytest.fixture(scope="module")
def short_run(body_root, tmp_path_factory) -> Path:
    """runs/short/00000: 3 steps of batch 2 with a tick and a snapshot after each (0.006 kimg in all);
    runs/short/after_step1.pt: a copy of the first snapshot."""
    run_dir = tmp_path_factory.mktemp("runs") / "short" / "00000"
    trainer = Trainer(_cfg(body_root, run_dir))
    trainer.cfg.kimg = 0.002
    trainer.run()
    shutil.copy(list_snapshots(run_dir)[-1], run_dir.parent / "after_step1.pt")
    trainer.cfg.kimg = 0.006
    trainer.run()
    return run_dir


def _cfg(data: Path, run_dir: Path) -> TrainConfig:
    return TrainConfig(run_dir=str(run_dir), data=str(data), preset="tiny", batch=2, kimg=0.006, tick_kimg=0.002,
                       snap_ticks=1, workers=0, device="cpu", n_sample_chars=1,
                       loss=LossConfig(density_reg_points=64))


def _nimg(path: Path) -> int:
    return load_snapshot(path)["progress"]["nimg"]


def test_snapshots_within_one_kimg_are_all_kept_and_resolvable(short_run):
    snaps = list_snapshots(short_run)
    assert [p.name for p in snaps] == ["network-snapshot-000000.pt", "network-snapshot-000000.004.pt",
                                       "network-snapshot-000000.006.pt"]
    assert [_nimg(p) for p in snaps] == [2, 4, 6]
    assert resolve_snapshot(short_run) == snaps[-1]  # --resume of the run folder takes the newest
    for kimg, snap in zip(("000000", "000000.004", "000000.006"), snaps):
        assert resolve_inferquery(f"short-00000-{kimg}", short_run.parents[1]) == snap
    assert resolve_inferquery("short-00000-0", short_run.parents[1]) == snaps[0]  # KIMG digits as before
    assert {"samples-000000.png", "samples-000000.004.png", "samples-000000.006.png"} <= {
        p.name for p in short_run.iterdir()}


def test_run_state_reads_the_images_of_the_newest_snapshot(short_run, tmp_path):
    """What ablations_synth.sh does with a run folder. The first snapshot's plain name says kimg 0; the 2
    images it holds decide."""
    assert [run_state(short_run, kimg) for kimg in (0.005, 0.006, 0.007)] == ["done", "done", "resume"]
    first = tmp_path / "first" / "00000"
    first.mkdir(parents=True)
    shutil.copy(short_run.parent / "after_step1.pt", first / "network-snapshot-000000.pt")
    assert [run_state(first, kimg) for kimg in (0.002, 0.003)] == ["done", "resume"]
    (first / "network-snapshot-000000.pt").unlink()
    assert run_state(first, 0.002) == "new" == run_state(tmp_path / "missing", 0.002)


def test_resume_drops_the_metrics_of_redone_ticks_and_a_torn_line(body_root, short_run, tmp_path):
    run_dir = tmp_path / "00000"
    shutil.copytree(short_run, run_dir)
    killed = [run_dir / ".network-snapshot-000000.006.pt.k2j4x.tmp", run_dir / ".network-snapshot-000000.q8w1.tmp.pt"]
    for path in killed:  # what writers killed mid-snapshot left (the old and the current temporary names)
        path.write_bytes(b"PK")
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"kimg": 0.008, "st')  # the line a kill or a full disk tore mid-write
    Trainer(_cfg(body_root, run_dir)).run(load_snapshot(short_run.parent / "after_step1.pt"))  # steps 2, 3 again
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert not [p for p in run_dir.iterdir() if ".tmp" in p.name]


def test_unreadable_dataset_leaves_no_run_folder(body_root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(body_root, data)
    for png in data.rglob("*.png"):
        png.write_bytes(b"not a png")
    result = CliRunner().invoke(main, ["--name", "broken", "--preset", "tiny", "--data", str(data), "--outdir",
                                       str(tmp_path / "runs"), "--batch", "2", "--kimg", "0.002", "--workers",
                                       "0", "--device", "cpu"])
    assert result.exit_code == 2, result.output  # bad input
    assert "not a png" not in result.stderr and ".png" in result.stderr
    assert not (tmp_path / "runs" / "broken").exists()
