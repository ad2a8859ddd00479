"""Dual discriminator: shapes, camera conditioning, the mask branch switch, minibatch std, R1 (second order)."""
import pytest
import torch

from training.geometry.camera import camera_pose, intrinsics, make_label
from training.model.discriminator import DiscriminatorConfig, DualDiscriminator, gaussian_blur

# body and head: D on 512^2 images (the raw 128^2 render upsampled), mask branch on the 128^2 alpha
PRESETS = {"body": DiscriminatorConfig(img_resolution=512, mask_resolution=128),
           "head": DiscriminatorConfig(img_resolution=512, mask_resolution=128)}

@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """These networks are tiny: extra threads only add synchronisation."""


def tiny(**kw) -> DiscriminatorConfig:
    return DiscriminatorConfig(**{"img_resolution": 64, "channel_base": 512, "channel_max": 32, "mapping_layers": 2,
                                  "mask_resolution": 32, "mask_channel_base": 256, "mask_channel_max": 16, **kw})


def labels(azims: list[float]) -> torch.Tensor:
    azim = torch.tensor(azims)
    return make_label(camera_pose(torch.zeros_like(azim), azim, torch.full_like(azim, 3.5)), intrinsics(30.0))


def inputs(batch: int, res: int, raw_res: int, mask_res: int, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, res, res, generator=g, dtype=dtype) * 2 - 1
    raw = torch.rand(batch, 3, raw_res, raw_res, generator=g, dtype=dtype) * 2 - 1
    mask = (torch.rand(batch, 1, mask_res, mask_res, generator=g, dtype=dtype) > 0.5).to(dtype)
    return image, raw, mask


@pytest.mark.parametrize("preset", ["body", "head"])
def test_preset_widths(preset):
    d = DualDiscriminator(PRESETS[preset])
    first = d.trunk.blocks[0]
    assert first.fromrgb.weight.shape[:2] == (64, 6)  # 32768 / 512 channels from the 6-channel dual image
    assert len(d.trunk.blocks) == 7 and len(d.mask_trunk.blocks) == 5  # 512 -> 8 and 128 -> 8
    assert d.epilogue.conv.weight.shape[:2] == (512, 513)  # + 1 minibatch-std channel
    assert d.cmap_dim == 512


def test_full_resolution_forward_at_batch_1():
    """512^2 image, 128^2 raw render, 512^2 alpha (resized to the branch's 128) at batch 1, with the preset's
    resolutions but narrow channels (the preset's own widths cost about 4 s per pass on 2 cores)."""
    torch.manual_seed(0)
    d = DualDiscriminator(DiscriminatorConfig(img_resolution=512, mask_resolution=128, channel_base=1024,
                                              channel_max=32, mask_channel_base=512, mask_channel_max=16))
    image, raw, mask = inputs(1, 512, 128, 512)
    out = d(image, raw, labels([0.0]), mask)
    assert out.shape == (1, 1)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("raw_res", [16, 64, 128])
def test_tiny_shapes_and_the_raw_image_is_used(raw_res):
    torch.manual_seed(0)
    d = DualDiscriminator(tiny())
    image, raw, mask = inputs(3, 64, raw_res, 64)  # batch 3: minibatch-std groups of 3
    out = d(image, raw, labels([0.0, 90.0, 180.0]), mask)
    assert out.shape == (3, 1)
    assert torch.isfinite(out).all()
    assert not torch.allclose(d(image, -raw, labels([0.0, 90.0, 180.0]), mask), out)


def test_the_camera_label_is_used():
    torch.manual_seed(0)
    d = DualDiscriminator(tiny())
    image, raw, mask = inputs(2, 64, 32, 32)
    front = d(image, raw, labels([0.0, 0.0]), mask)
    side = d(image, raw, labels([90.0, -90.0]), mask)
    assert (front - side).abs().min() > 1e-4
    with pytest.raises(ValueError, match="label"):
        d(image, raw, None, mask)


def test_unconditional_d():
    d = DualDiscriminator(tiny(c_dim=0))
    image, raw, mask = inputs(2, 64, 32, 32)
    assert d.mapping is None
    assert d(image, raw, None, mask).shape == (2, 1)


def test_mask_branch_switch():
    torch.manual_seed(0)
    image, raw, mask = inputs(2, 64, 32, 32)
    label = labels([0.0, 45.0])
    with_mask = DualDiscriminator(tiny(mask_d=True))
    assert (with_mask(image, raw, label, mask) - with_mask(image, raw, label, 1 - mask)).abs().min() > 1e-4
    with pytest.raises(ValueError, match="mask"):
        with_mask(image, raw, label)
    without = DualDiscriminator(tiny(mask_d=False))
    assert without.mask_trunk is None
    base = without(image, raw, label)
    assert torch.equal(without(image, raw, label, mask), base)
    assert torch.equal(without(image, raw, label, 1 - mask), base)


def test_minibatch_std_mixes_only_within_a_group():
    torch.manual_seed(0)
    image, raw, mask = inputs(4, 64, 32, 32)
    label = labels([0.0] * 4)
    changed = image.clone()
    changed[1] = -changed[1]
    grouped = DualDiscriminator(tiny(mbstd_group_size=4))
    assert not torch.allclose(grouped(image, raw, label, mask)[0], grouped(changed, raw, label, mask)[0])
    alone = DualDiscriminator(tiny(mbstd_group_size=1))
    assert torch.equal(alone(image, raw, label, mask)[0], alone(changed, raw, label, mask)[0])


def test_blur():
    torch.manual_seed(0)
    flat = torch.full((1, 3, 32, 32), 0.7)
    torch.testing.assert_close(gaussian_blur(flat, 1.0)[..., 4:-4, 4:-4], flat[..., 4:-4, 4:-4])
    d = DualDiscriminator(tiny())
    image, raw, mask = inputs(2, 64, 32, 32)
    label = labels([0.0, 45.0])
    assert not torch.allclose(d(image, raw, label, mask, blur_sigma=2.0), d(image, raw, label, mask))


def r1_penalty(d: DualDiscriminator, image: torch.Tensor, raw: torch.Tensor, label: torch.Tensor,
               mask: torch.Tensor, wrt: str = "image") -> torch.Tensor:
    """R1 as the loss will compute it: |grad of the summed logits w.r.t. the real input|^2, graph kept."""
    image, raw, mask = image.detach().requires_grad_(), raw.detach().requires_grad_(), mask.detach().requires_grad_()
    logits = d(image, raw, label, mask)
    targets = [image, raw] if wrt == "image" else [mask]
    grads = torch.autograd.grad(logits.sum(), targets, create_graph=True)
    return sum(g.square().sum(dim=[1, 2, 3]) for g in grads).mean()


def test_r1_on_the_image_reaches_every_parameter():
    """Second order through conv2d, bias_act (lrelu, clamp) and upfirdn2d down-sampling. The biases after the
    minibatch std get exactly zero: from there on D is piecewise linear in its input (lrelu), so the input
    gradient does not change with them; every other parameter moves the R1 penalty."""
    torch.manual_seed(0)
    d = DualDiscriminator(tiny())
    image, raw, mask = inputs(4, 64, 32, 32)
    penalty = r1_penalty(d, image, raw, labels([0.0, 90.0, 180.0, 270.0]), mask)
    assert torch.isfinite(penalty) and penalty > 0
    penalty.backward()
    for name, p in d.named_parameters():
        if name in ("epilogue.conv.bias", "epilogue.fc.bias", "epilogue.out.bias"):
            assert p.grad is None or p.grad.abs().max() == 0, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().max() > 0, name


def test_r1_on_the_mask_reaches_the_mask_branch():
    torch.manual_seed(0)
    d = DualDiscriminator(tiny())
    image, raw, mask = inputs(2, 64, 32, 64)  # a 64^2 alpha: the gradient also flows through the resize
    penalty = r1_penalty(d, image, raw, labels([0.0, 90.0]), mask, wrt="mask")
    assert torch.isfinite(penalty) and penalty > 0
    penalty.backward()
    for name, p in d.mask_trunk.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().max() > 0, name


def test_r1_parameter_gradient_matches_finite_differences_in_float64():
    """d R1 / d theta from double backward against central differences along random directions."""
    torch.manual_seed(0)
    cfg = tiny(img_resolution=16, channel_base=64, channel_max=8, mask_resolution=8, mask_channel_base=32,
               mask_channel_max=4, cmap_dim=4, mapping_layers=1)
    d = DualDiscriminator(cfg).double()
    image, raw, mask = inputs(2, 16, 8, 8, seed=1, dtype=torch.float64)
    label = labels([30.0, -60.0]).double()
    params = {k: v.detach() for k, v in d.named_parameters()}

    def score(theta: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.func.functional_call(d, theta, (image, raw, label, mask)).sum()

    def r1(theta: dict[str, torch.Tensor]) -> torch.Tensor:
        image.requires_grad_(True)
        (g,) = torch.autograd.grad(score(theta), [image], create_graph=True)
        image.requires_grad_(False)
        return g.square().sum()

    theta = {k: v.clone().requires_grad_() for k, v in params.items()}
    grads = torch.autograd.grad(r1(theta), list(theta.values()), allow_unused=True)
    gen = torch.Generator().manual_seed(2)
    eps = 1e-7  # the truncation error is O(eps^2) but large: the minibatch std is sharply curved
    for _ in range(3):
        direction = {k: torch.randn(v.shape, generator=gen, dtype=v.dtype) for k, v in params.items()}
        analytic = sum((g * direction[k]).sum() for k, g in zip(theta, grads) if g is not None)
        plus = r1({k: v + eps * direction[k] for k, v in params.items()})
        minus = r1({k: v - eps * direction[k] for k, v in params.items()})
        numeric = (plus - minus) / (2 * eps)
        torch.testing.assert_close(analytic.detach(), numeric.detach(), rtol=1e-6, atol=1e-10)
