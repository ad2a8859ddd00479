"""Initialisation choices that let a short run learn the colour path (training/model/backbone.py output_init,
training/model/layers.py unit_linear): the injected image reaches the planes cleanly and the decoder's
linear maps keep the signal's scale."""
import torch
from torch import nn

from training.model.backbone import BackboneConfig, ConditionedBackbone, resize_condition
from training.model.layers import unit_linear


def test_unit_linear_keeps_the_signal_scale_where_the_default_shrinks_it():
    """Five maps in a row, as from a plane feature to a colour: unit gain keeps the variance near 1."""
    torch.manual_seed(0)
    x = torch.randn(4096, 64)

    def chain(make) -> float:
        y = x
        for _ in range(5):
            y = make(64, 64)(y)
        return float(y.detach().var())

    unit, default = chain(unit_linear), chain(nn.Linear)
    assert 0.5 < unit < 2.0
    assert default < 0.05  # PyTorch's default: about (1/3)^5 of the input variance
    layer = unit_linear(64, 8)
    assert torch.equal(layer.bias, torch.zeros(8))


def test_backbone_output_residual_scales_with_output_init():
    """The planes are the injected condition image plus the toRGB skip sum, which is linear in the toRGB
    weights: the part beyond the image scales exactly with output_init (same seed otherwise)."""
    cond = torch.rand(2, 3, 32, 32) * 2 - 1

    def planes(scale: float) -> torch.Tensor:
        torch.manual_seed(0)
        cfg = BackboneConfig(z_dim=32, w_dim=32, resolution=32, plane_channels=4, plane_depth=1, channel_base=256,
                             channel_max=32, output_init=scale)
        net = ConditionedBackbone(cfg)
        ws = torch.randn(2, net.num_ws, 32, generator=torch.Generator().manual_seed(1))
        return net(ws, cond, noise_mode="const")

    injected = planes(0.0)
    expected = resize_condition(cond.flip(-2) * 4.0, 32)
    torch.testing.assert_close(injected[:, :3], expected, atol=1e-5, rtol=1e-5)
    assert injected[:, 3:].abs().max() < 1e-6
    full, small = planes(1.0) - injected, planes(0.1) - injected
    assert full.std() > 0.1
    torch.testing.assert_close(small, 0.1 * full, atol=1e-5, rtol=1e-4)
