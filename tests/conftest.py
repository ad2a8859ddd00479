"""Shared fixtures: small synthetic datasets made once per test session."""
from __future__ import annotations

from pathlib import Path

import pytest

SYNTH_RES = 32
SYNTH_VIEWS = 3


def _make(root: Path, preset: str, n: int) -> Path:
    from _scripts.data import synth

    rc = synth.main(["--out", str(root), "--n", str(n), "--res", str(SYNTH_RES), "--preset", preset,
                     "--seed", "7", "--views", str(SYNTH_VIEWS), "--workers", "1"])
    assert rc == 0, "synthetic data generation failed"
    return root


@pytest.fixture
def single_thread():
    """Run a test with one torch thread (small networks: more threads only add synchronisation)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def body_root(tmp_path_factory) -> Path:
    """6 body characters at 32^2 (4 train, 1 val, 1 test; the 60-view grid for val/test)."""
    return _make(tmp_path_factory.mktemp("synth-body"), "body", 6)


@pytest.fixture(scope="session")
def head_root(tmp_path_factory) -> Path:
    return _make(tmp_path_factory.mktemp("synth-head"), "head", 5)


@pytest.fixture(scope="session")
def tiny_snapshot(body_root, tmp_path_factory) -> Path:
    """A tiny-preset snapshot after 2 training steps on the body fixture: runs/tiny_test/00000/...-000000.pt.

    Its inferquery is 'tiny_test-00000-000000' with runs root = the returned path's parents[2].
    """
    import torch

    from training.train.loss import LossConfig
    from training.train.config import TrainConfig
    from training.train.loop import Trainer

    run_dir = tmp_path_factory.mktemp("runs") / "tiny_test" / "00000"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Trainer(TrainConfig(run_dir=str(run_dir), data=str(body_root), preset="tiny", batch=2, kimg=0.004,
                            tick_kimg=0.004, snap_ticks=1, workers=0, device="cpu", n_sample_chars=1,
                            loss=LossConfig(density_reg_points=64))).run()
    finally:
        torch.set_num_threads(threads)
    return run_dir / "network-snapshot-000000.pt"
