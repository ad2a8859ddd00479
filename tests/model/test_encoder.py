"""The multi-granularity PAT encoder (randomly initialised)."""
import pytest
import torch

from training.model.encoder import EncoderConfig, PATEncoder, build_encoder

SMALL = EncoderConfig(image_resolution=64, widths=(16, 32, 48, 64), depths=(1, 1, 1, 1), out_channels=(64, 32, 16))


def test_default_config_on_512_images():
    torch.manual_seed(0)
    encoder = build_encoder(EncoderConfig())
    with torch.no_grad():
        maps = encoder(torch.rand(1, 3, 512, 512) * 2 - 1)
    assert {r: tuple(m.shape) for r, m in maps.items()} == {8: (1, 512, 8, 8), 16: (1, 512, 16, 16), 32: (1, 512, 32, 32)}
    assert all(torch.isfinite(m).all() for m in maps.values())


@pytest.mark.parametrize("size", [(64, 64), (100, 80)])
def test_small_config_and_other_input_sizes(size):
    torch.manual_seed(0)
    maps = PATEncoder(SMALL)(torch.rand(2, 3, *size) * 2 - 1)
    assert {r: tuple(m.shape) for r, m in maps.items()} == {8: (2, 64, 8, 8), 16: (2, 32, 16, 16), 32: (2, 16, 32, 32)}


def test_gradients_reach_the_image():
    torch.manual_seed(0)
    image = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_()
    maps = PATEncoder(SMALL)(image)
    sum(m.square().mean() for m in maps.values()).backward()
    assert torch.isfinite(image.grad).all() and image.grad.abs().sum() > 0
    # each sample's maps depend on its own image only
    image.grad = None
    PATEncoder(SMALL)(image)[8][0].sum().backward()
    assert image.grad[0].abs().sum() > 0 and image.grad[1].abs().sum() == 0


def test_kind_switch_and_bad_resolution():
    assert build_encoder(EncoderConfig(kind="none")) is None
    with pytest.raises(ValueError, match="multiple of 64"):
        PATEncoder(EncoderConfig(image_resolution=96))
    with pytest.raises(ValueError, match="unknown encoder kind"):
        build_encoder(EncoderConfig(kind="resnet"))
