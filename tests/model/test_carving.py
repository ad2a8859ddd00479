"""Silhouette carving: known answers through the project's renderer and cameras."""
import torch

from training.data.layout import PRESETS
from training.infer.cameras import drawing_silhouettes
from training.model.carving import Silhouettes, carve, in_hull
from training.model.volumetric_rendering.ray_marcher import density_from_sigma
from training.model.volumetric_rendering.renderer import RenderConfig, VolumeRenderer

PRESET = PRESETS["body"]
S = 32


def l_shape() -> torch.Tensor:
    """(1, S, S) an asymmetric silhouette (an L: a tall bar on the image's left, a foot to the right),
    so a flip in either image axis or a swapped camera would show."""
    mask = torch.zeros(1, S, S)
    mask[0, 4:28, 6:12] = 1.0
    mask[0, 22:28, 6:24] = 1.0
    return mask


def dense_box(points, directions):
    """Opaque everywhere in the box (white features): the carving alone makes the silhouette."""
    return torch.full((*points.shape[:2], 1), 30.0), torch.ones(*points.shape[:2], 3)


def carved(field, silhouettes):
    def query(points, directions):
        sigma, features = field(points, directions)
        return carve(sigma, points, silhouettes), features
    return query


def render_alpha(field, view: str) -> torch.Tensor:
    params = PRESET.ortho_params(view)
    renderer = VolumeRenderer(RenderConfig(box_warp=PRESET.boxwarp, n_coarse=32, n_fine=0)).eval()
    with torch.no_grad():
        out = renderer(field, params.label()[None], S, params.near, params.far)
    return out.alpha[0]


def test_front_and_back_renders_show_the_drawings_silhouettes():
    front = l_shape()
    back = front.flip(-1)  # the same body seen from behind: mirrored left-right
    sil = drawing_silhouettes(PRESET, front, back)
    field = carved(dense_box, sil)
    assert torch.equal((render_alpha(field, "front") > 0.5).float(), front)
    assert torch.equal((render_alpha(field, "back") > 0.5).float(), back)


def test_the_hull_is_the_intersection_of_the_two_silhouettes():
    front = l_shape()
    back = torch.zeros_like(front)
    back[0, :, S // 2:] = 1.0  # the back drawing shows only its right half: the body's left half (+x)
    field = carved(dense_box, drawing_silhouettes(PRESET, front, back))
    seen = render_alpha(field, "front") > 0.5
    # the back camera's right half is the front camera's left half: what survives is the L's left part
    assert torch.equal(seen.float(), front * (torch.arange(S) < S // 2).float())


def test_side_view_keeps_depth_but_not_more_than_the_hull():
    sil = drawing_silhouettes(PRESET, l_shape(), l_shape().flip(-1))
    side = render_alpha(carved(dense_box, sil), "left") > 0.5
    rows = side[0].any(-1)
    # a full-depth box seen from the side: every row the L covers is filled, no other row is
    assert torch.equal(rows, l_shape()[0].any(-1))


def test_soft_edges_cut_at_half_alpha_not_at_any_alpha():
    """An anti-aliased fringe (alpha 0.3 around the L) must not widen an opaque field's silhouette."""
    front = l_shape()
    fringe = torch.nn.functional.max_pool2d(front[None], 3, stride=1, padding=1)[0]
    soft = torch.maximum(front, 0.3 * fringe)
    field = carved(dense_box, drawing_silhouettes(PRESET, soft, soft.flip(-1)))
    assert torch.equal((render_alpha(field, "front") > 0.5).float(), front)


def test_carved_density_is_zero_and_kept_density_unchanged():
    ones = torch.ones(1, S, S)
    sil = drawing_silhouettes(PRESET, torch.stack([ones, torch.zeros_like(ones)]),
                              torch.stack([ones, ones]))
    points = torch.tensor([[[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]]).repeat(2, 1, 1)
    inside = in_hull(points, sil)
    assert inside.shape == (2, 2, 1)
    assert inside[0, 0] and not inside[0, 1]  # outside every image: carved
    assert not inside[1].any()  # the second character's front drawing is empty
    sigma = torch.full((2, 2, 1), 7.0)
    density = density_from_sigma(carve(sigma, points, sil))
    assert density[0, 0].item() == density_from_sigma(torch.tensor(7.0)).item()
    assert density[0, 1].item() == 0.0 and density[1].abs().max().item() == 0.0


def test_silhouettes_check_their_shapes():
    try:
        Silhouettes(alpha=torch.ones(1, 2, S, S), labels=torch.zeros(1, 2, 25))
    except ValueError as exc:
        assert "(B, V, 1, S, S)" in str(exc)
    else:
        raise AssertionError("a 4-d alpha was accepted")
