"""Pure-torch feature networks whose state-dict keys load the standard published weight files, so
metrics and losses need no torchvision (see training/metrics/weights.py for where the files come from)."""
from training.metrics.feature_nets.alexnet import AlexNetFeatures, load_alexnet

__all__ = ["AlexNetFeatures", "load_alexnet"]
