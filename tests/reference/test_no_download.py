"""The reference session's guard: asking for published weights fails loudly instead of downloading
(conftest's NetworkForbidden, a RuntimeError, matched here by its message)."""
from __future__ import annotations

import urllib.request

import pytest

WHY = "not installed: reference check only (make test-reference)"
torchvision = pytest.importorskip("torchvision", reason=f"torchvision {WHY}")

import torch  # noqa: E402


def test_torchvision_pretrained_weights_refused():
    with pytest.raises(RuntimeError, match="network access attempted"):
        torchvision.models.alexnet(weights="DEFAULT")


def test_hub_and_urllib_refused():
    with pytest.raises(RuntimeError, match="network access attempted"):
        torch.hub.load_state_dict_from_url("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth")
    with pytest.raises(RuntimeError, match="network access attempted"):
        urllib.request.urlopen("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", timeout=5)
