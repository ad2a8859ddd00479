"""The reference check (``make test-reference``): shared guards and the measured-differences summary.

Every test here builds the real package's network with RANDOM (seeded) weights, hands the same weights
to ours and compares outputs on the same inputs. Nothing may download weights: for these tests the
network is cut off (any TCP/UDP connect or name lookup raises ``NetworkForbidden``; unix sockets still
work), torch hub's download functions raise, and the torch hub / Hugging Face caches point at an
empty temporary folder, so a package that tried to fetch or reuse published weights fails loudly.

The test modules skip (one line) where torchvision, lpips, torch-fidelity or open_clip are missing,
i.e. in the core ``.venv`` that ``make test`` uses; this file imports none of them.
"""
from __future__ import annotations

import socket

import pytest

# (what was compared, max abs difference, tolerance or None for a recorded, unasserted figure, note)
MEASURED: list[tuple[str, float, float | None, str]] = []


class NetworkForbidden(RuntimeError):
    """A reference test tried to reach the network (a package fetching weights)."""


def _forbidden(*args, **kwargs):
    raise NetworkForbidden(f"tests/reference: network access attempted ({args[:2]!r:.120}); "
                           "these tests must run on random weights, nothing may be downloaded")


@pytest.fixture(scope="session", autouse=True)
def no_downloads(tmp_path_factory):
    """Cut the network and empty the weight caches for the whole reference session."""
    empty = tmp_path_factory.mktemp("empty-caches")
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _forbidden(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _forbidden(address)
        return real_connect_ex(self, address)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket.socket, "connect_ex", connect_ex)
        mp.setattr(socket, "getaddrinfo", _forbidden)
        mp.setattr(socket, "create_connection", _forbidden)
        for var in ("TORCH_HOME", "HF_HOME", "HF_HUB_CACHE", "XDG_CACHE_HOME"):
            mp.setenv(var, str(empty / var.lower()))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("NOVA3D_WEIGHTS_DIR", str(empty / "nova3d"))
        try:
            import torch.hub
        except ImportError:  # pragma: no cover - torch is always there
            pass
        else:
            mp.setattr(torch.hub, "download_url_to_file", _forbidden)
            mp.setattr(torch.hub, "load_state_dict_from_url", _forbidden)
        yield


@pytest.fixture
def measured():
    """``measured(what, max_abs_diff, tol, note="")``: records a figure for the summary and asserts
    ``max_abs_diff <= tol`` (``tol=None`` only records it)."""

    def record(what: str, diff: float, tol: float | None, note: str = "") -> None:
        MEASURED.append((what, float(diff), tol, note))
        if tol is not None:
            assert diff <= tol, f"{what}: max abs diff {diff:.3g} > tolerance {tol:.3g} {note}".rstrip()

    return record


def pytest_terminal_summary(terminalreporter):
    if not MEASURED:
        return
    terminalreporter.section("reference check: max abs differences (ours vs the real package)")
    for what, diff, tol, note in MEASURED:
        bound = f"<= {tol:.4g}" if tol is not None else "(recorded, not asserted)"
        terminalreporter.write_line(f"{what}: {diff:.4g} {bound}{'  ' + note if note else ''}")
