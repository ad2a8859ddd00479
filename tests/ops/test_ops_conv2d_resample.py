"""conv2d_resample (the convolution at the low resolution) against the direct order (upsample2d then conv2d,
conv2d then downsample2d): equal away from the border, exactly equal for 1x1 kernels, same output sizes,
and first- and second-order gradients (R1 differentiates D's input gradient) by gradcheck."""
import pytest
import torch
import torch.nn.functional as F

from torch_utils.ops.conv2d_resample import conv2d_resample
from torch_utils.ops.upfirdn2d import downsample2d, setup_filter, upsample2d

pytestmark = pytest.mark.usefixtures("single_thread")
BORDER = 1  # the ring of output pixels where the two orders may differ (the direct order truncates its middle map)


def direct(x, w, f, up, down, padding, groups):
    if up > 1:
        x = upsample2d(x, f, up=up)
    x = F.conv2d(x, w, padding=padding, groups=groups)
    return downsample2d(x, f, down=down) if down > 1 else x


def filters():
    gen = torch.Generator().manual_seed(1)
    return {"binomial": setup_filter([1, 3, 3, 1]), "asymmetric": setup_filter(torch.rand(4, 4, generator=gen) + 0.1)}


@pytest.mark.parametrize("filter_name", ["binomial", "asymmetric"])
@pytest.mark.parametrize("kernel,up,down,groups", [(3, 2, 1, 1), (3, 1, 2, 1), (1, 2, 1, 1), (1, 1, 2, 1),
                                                   (3, 2, 1, 2), (3, 1, 2, 2), (3, 1, 1, 1)])
def test_equals_direct_order_away_from_border(filter_name, kernel, up, down, groups):
    gen = torch.Generator().manual_seed(0)
    f = filters()[filter_name]
    x = torch.randn(2, 4 * groups, 12, 12, generator=gen, dtype=torch.float64)
    w = torch.randn(6 * groups, 4, kernel, kernel, generator=gen, dtype=torch.float64)
    f = f.double()
    ours, ref = conv2d_resample(x, w, f, up, down, kernel // 2, groups), direct(x, w, f, up, down, kernel // 2, groups)
    assert ours.shape == ref.shape
    border = 0 if kernel == 1 or up == down == 1 else BORDER
    inner = (slice(None), slice(None), slice(border, ours.shape[2] - border), slice(border, ours.shape[3] - border))
    torch.testing.assert_close(ours[inner], ref[inner], rtol=1e-10, atol=1e-10)


def test_border_differs_only_in_the_outer_pixel_ring():
    """Up and down differ from the direct order only in the outermost pixel ring (the module doc's claim)."""
    gen = torch.Generator().manual_seed(2)
    f = setup_filter([1, 3, 3, 1]).double()
    x = torch.randn(1, 3, 16, 16, generator=gen, dtype=torch.float64)
    w = torch.randn(5, 3, 3, 3, generator=gen, dtype=torch.float64)
    for up, down in ((2, 1), (1, 2)):
        diff = (conv2d_resample(x, w, f, up, down, 1) - direct(x, w, f, up, down, 1, 1)).abs().amax(dim=(0, 1))
        assert diff[1:-1, 1:-1].max() < 1e-10


@pytest.mark.parametrize("kernel,up,down,groups", [(3, 2, 1, 2), (3, 1, 2, 1), (1, 1, 2, 1)])
def test_gradcheck_first_and_second_order(kernel, up, down, groups):
    gen = torch.Generator().manual_seed(3)
    f = setup_filter([1, 3, 3, 1]).double()
    x = torch.randn(1, 2 * groups, 6, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2 * groups, 2, kernel, kernel, generator=gen, dtype=torch.float64, requires_grad=True)

    def op(x, w):
        return conv2d_resample(x, w, f, up, down, kernel // 2, groups)
    assert torch.autograd.gradcheck(op, (x, w))
    assert torch.autograd.gradgradcheck(op, (x, w))


def test_rejects_up_and_down_together():
    with pytest.raises(ValueError, match="not both"):
        conv2d_resample(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3), setup_filter([1, 3, 3, 1]), up=2, down=2)
