"""AlexNet features as LPIPS uses them, loading torchvision's ``alexnet-owt-7be5be79.pth``.

``features`` repeats torchvision's ``AlexNet.features`` indices 0..11 (the trailing max-pool, index
12, has no parameters and LPIPS never uses it), so the file's ``features.*`` keys load unchanged.
The file's ``classifier.*`` keys (listed in CLASSIFIER_KEYS) are dropped by name before a strict
load; any other missing or unexpected key is an error. Inputs are images in [-1, 1], shifted and
scaled as LPIPS's ScalingLayer does (ImageNet mean/std mapped to [-1, 1]).
"""
from __future__ import annotations

import os

import torch
from torch import nn

from training.metrics.weights import load_checked_state, load_state

# channels of relu1..relu5 (the activations LPIPS compares) and the index of the ReLU that ends each
RELU_CHANNELS = (64, 192, 384, 256, 256)
RELU_ENDS = (1, 4, 7, 9, 11)
CLASSIFIER_KEYS = tuple(f"classifier.{i}.{p}" for i in (1, 4, 6) for p in ("weight", "bias"))
# LPIPS's ScalingLayer: (x - shift) / scale, i.e. ImageNet mean/std for images in [-1, 1]
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)


class AlexNetFeatures(nn.Module):
    """torchvision's AlexNet ``features`` (conv/ReLU/max-pool 0..11) returning relu1..relu5."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(),
        )
        # not persistent: the state dict stays exactly torchvision's feature keys
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """relu1..relu5 of images ``x`` (N, 3, H, W) in [-1, 1]; H and W at least 31."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"AlexNet features: expected images (N, 3, H, W), got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < 31:
            raise ValueError(f"AlexNet features: images must be at least 31x31 (its pooling), got "
                             f"{tuple(x.shape[-2:])}")
        h = (x - self.shift) / self.scale
        outs = []
        start = 0
        for end in RELU_ENDS:
            for layer in self.features[start:end + 1]:
                h = layer(h)
            outs.append(h)
            start = end + 1
        return outs

    def load_torchvision_state_dict(self, state: object, source: str = "state dict") -> None:
        """Load torchvision AlexNet weights: ``features.*`` strictly, ``classifier.*`` dropped by name."""
        load_checked_state(self, state, source, "torchvision AlexNet weights", drop=CLASSIFIER_KEYS.__contains__)

def load_alexnet(path: str | os.PathLike[str]) -> AlexNetFeatures:
    """AlexNetFeatures with the weights of a torchvision AlexNet file, frozen, in eval mode."""
    state = load_state(path, "AlexNet weight file")
    net = AlexNetFeatures()
    net.load_torchvision_state_dict(state, source=str(path))
    return net.requires_grad_(False).eval()
