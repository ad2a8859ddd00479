"""Our FID Inception and FID against torch-fidelity's "inception-v3-compat" on the same random weights.

torch-fidelity's FeatureExtractorInceptionV3 only loads weights from a file (or downloads the published
one when given none). Its own module is built once with loading switched off to read its parameter and
buffer names; every tensor is then filled with seeded random values (convolutions He-normal so the
activations stay O(1) through the 94 BasicConv2d layers, BatchNorm statistics and affine parameters
random around identity), saved as a file, and both networks load that same file through their normal
loaders. The keys map to ours by name unchanged (the test asserts that and lists any that do not).

Inputs: torch-fidelity takes uint8 images u, resizes them TF1-style and normalises (u - 128) / 128;
ours (pytorch-fid's preprocessing) takes x in [0, 1], resizes with torch's bilinear and maps 2x - 1.
Feeding ours x = u / 256 at 299x299 (where both resizes are the identity) makes the two network inputs
bit-identical, so the network comparison is exact up to float32 summation order; the end-to-end
difference at other sizes (different resize and /127.5 vs /128) is recorded, not asserted: it is the
documented pytorch-fid vs torch-fidelity preprocessing difference, not a network difference.

Tolerances (float32): features within 1e-4 x their largest magnitude (94 layers of float32 rounding,
and torch-fidelity's AdaptiveAvgPool2d vs our mean over H, W); FID from the two packages' features
within 1e-6 relative (both are float64 formulas on the features).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

WHY = "not installed: reference check only (make test-reference)"
pytest.importorskip("torchvision", reason=f"torchvision {WHY}")
tf_inception = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3",
                                   reason=f"torch-fidelity {WHY}")
from torch_fidelity import metric_fid  # noqa: E402
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x  # noqa: E402

import torch  # noqa: E402

from training.metrics.feature_nets.inception import FC_KEYS, FIDInceptionV3, load_inception  # noqa: E402
from training.metrics.fid import fid_from_features, frechet_distance  # noqa: E402

FEATURE_RTOL = 1e-4
FID_RTOL = 1e-6
N_PER_SET = 2  # two sets of 2 images at 299x299: FID's covariances are singular, which both must handle


def _random_state(names_shapes: dict[str, torch.Size], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in names_shapes.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith("conv.weight"):
            fan_in = math.prod(shape[1:])
            state[key] = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
        elif key.endswith("bn.weight"):
            state[key] = 0.75 + 0.5 * torch.rand(shape, generator=g)
        elif key.endswith("bn.bias") or key.endswith("running_mean"):
            state[key] = 0.1 * torch.randn(shape, generator=g)
        elif key.endswith("running_var"):
            state[key] = 0.75 + 0.5 * torch.rand(shape, generator=g)
        elif key in ("fc.weight", "fc.bias"):
            state[key] = 0.01 * torch.randn(shape, generator=g)
        else:
            raise AssertionError(f"torch-fidelity Inception: unexpected key {key}")
    return state


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A torch-fidelity-format Inception file with random weights, named by its own module."""
    folder = tmp_path_factory.mktemp("inception")
    empty = folder / "empty.pth"
    torch.save({}, empty)
    cls = tf_inception.FeatureExtractorInceptionV3
    original = cls.load_state_dict
    cls.load_state_dict = lambda self, state, strict=True: None  # build the module only, to read its names
    try:
        skeleton = cls("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(empty))
    finally:
        cls.load_state_dict = original
    state = _random_state({k: v.shape for k, v in skeleton.state_dict().items()}, seed=0)
    torch.save(state, folder / "weights-inception-random.pth")
    return folder / "weights-inception-random.pth"


@pytest.fixture(scope="module")
def nets(weights_file):
    theirs = tf_inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                      feature_extractor_weights_path=str(weights_file))
    return load_inception(weights_file), theirs


def test_key_names_map_unchanged(weights_file):
    """torch-fidelity's keys are ours plus the fc classifier: no renaming, nothing missing."""
    theirs = set(torch.load(weights_file, weights_only=True))
    ours = set(FIDInceptionV3().state_dict())
    assert sorted(ours - theirs) == [], f"keys ours needs that torch-fidelity's file lacks: {sorted(ours - theirs)}"
    assert sorted(theirs - ours) == sorted(FC_KEYS), f"extra torch-fidelity keys: {sorted(theirs - ours)}"


def _uint8_images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # smooth random images (upsampled noise) plus pixel noise: not only high-frequency content
    low = torch.rand((n, 3, 8, 8), generator=g)
    img = torch.nn.functional.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    img = 0.8 * img + 0.2 * torch.rand((n, 3, size, size), generator=g)
    return (img * 255).round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def features_299(nets):
    """Both networks' 2048-d features of the same 2 x N_PER_SET images at 299x299."""
    ours, theirs = nets
    u = _uint8_images(2 * N_PER_SET, 299, seed=1)
    with torch.no_grad():
        got = ours(u.float() / 256)
        (want,) = theirs(u)
    return got, want


def test_inception_features_equal_torch_fidelity(features_299, measured):
    got, want = features_299
    assert got.shape == want.shape == (2 * N_PER_SET, 2048)
    scale = want.abs().max().item()
    assert scale > 1e-3 and want.std().item() > 1e-3, "features near zero: the random weights test nothing"
    measured("Inception 2048-d features 299x299 vs torch-fidelity", (got - want).abs().max().item(),
             FEATURE_RTOL * scale, f"(max |feature| {scale:.3g})")


def test_inception_network_equal_after_torch_fidelity_resize(nets, measured):
    """At 64x64: torch-fidelity's own TF1 resize output fed to our network (bit-identical input) gives
    the same features; our full pipeline (torch bilinear, /127.5) is recorded beside it."""
    ours, theirs = nets
    u = _uint8_images(1, 64, seed=2)
    with torch.no_grad():
        (want,) = theirs(u)
        resized = interpolate_bilinear_2d_like_tensorflow1x(u.float(), size=(299, 299), align_corners=False)
        got = ours(resized / 256)
        ours_pipeline = ours(u.float() / 255)
    scale = want.abs().max().item()
    measured("Inception features 64x64 (their resize) vs torch-fidelity", (got - want).abs().max().item(),
             FEATURE_RTOL * scale, f"(max |feature| {scale:.3g})")
    measured("Inception features 64x64, our own preprocessing vs torch-fidelity's",
             (ours_pipeline - want).abs().max().item(), None,
             f"(max |feature| {scale:.3g}; pytorch-fid resize and 2x-1 vs TF1 resize and (u-128)/128)")


@pytest.mark.filterwarnings("ignore:Matrix is singular:scipy.linalg.LinAlgWarning")
def test_fid_from_both_packages_features(features_299, measured):
    got, want = features_299
    ours = fid_from_features(got[:N_PER_SET], got[N_PER_SET:])
    stats = [metric_fid.fid_features_to_statistics(want[:N_PER_SET]),
             metric_fid.fid_features_to_statistics(want[N_PER_SET:])]
    theirs = metric_fid.fid_statistics_to_metric(*stats, verbose=False)[metric_fid.KEY_METRIC_FID]
    assert theirs > 0
    measured(f"FID ({N_PER_SET} vs {N_PER_SET} images, 2048-d) ours vs torch-fidelity", abs(ours - theirs),
             FID_RTOL * theirs, f"(FID {theirs:.6g})")


def test_fid_formula_equals_torch_fidelity(measured):
    """The formula alone on well-conditioned statistics (more samples than dimensions)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 64))
    b = rng.normal(size=(300, 64)) @ (np.eye(64) + 0.1 * rng.normal(size=(64, 64))) + 0.3
    ours = fid_from_features(a, b)
    sa, sb = (metric_fid.fid_features_to_statistics(torch.from_numpy(f)) for f in (a, b))
    theirs = metric_fid.fid_statistics_to_metric(sa, sb, verbose=False)[metric_fid.KEY_METRIC_FID]
    # the same statistics through our frechet_distance: the formula alone, no feature_stats
    measured("FID formula on torch-fidelity's statistics", abs(frechet_distance(sa["mu"], sa["sigma"], sb["mu"],
                                                                               sb["sigma"]) - theirs),
             FID_RTOL * theirs)
    measured("FID formula (64-d, 400 vs 300 samples) ours vs torch-fidelity", abs(ours - theirs),
             FID_RTOL * theirs, f"(FID {theirs:.6g})")
