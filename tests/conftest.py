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


@pytest.fixture(scope="session")
def body_root(tmp_path_factory) -> Path:
    """6 body characters at 32^2 (4 train, 1 val, 1 test; the 60-view grid for val/test)."""
    return _make(tmp_path_factory.mktemp("synth-body"), "body", 6)


@pytest.fixture(scope="session")
def head_root(tmp_path_factory) -> Path:
    return _make(tmp_path_factory.mktemp("synth-head"), "head", 5)
