"""One timed training step of the ORIGINAL NOVA-3D code, for ``python -m _scripts.bench compare --original PATH``:
run by path in a fresh process; it imports the original checkout's own modules (nothing of ours, no line
of its code copied) and prints one JSON line shaped as _scripts/bench_step.py's.

``python _scripts/bench_original_step.py CHECKOUT G|D TIMED``; ``... CHECKOUT check`` only checks that CHECKOUT is
the original and its modules import (one stderr line and exit status 2 or 3 if not).

The networks are built as the original's trainer (_train/eg3dc/trainers/train_multi_view_panic3d_mask_encoder.py)
builds them from the paper's body run config (RUN_CONFIG, whose flags are read from the file): G is
TriPlaneGenerator_v1 with the Generator_v0 backbone, the Encoder_v1 back-view encoder and the multi-view
(front + back, attention decoder) cond mode; D is MaskDualDiscriminator. The steps are bench_step.py's:

- G step: the loss's ``Gcond-front`` render (``G.f`` with the front ortho camera, elevation 0, azimuth 0,
  distance 3.5, so its ortho rays) from the front + back condition images, L1 on the SR image + raw image,
  backward, Adam step.
- D step: D on image (512), raw image (96) and mask (96, the neural resolution, as its loss passes it)
  with R1 as its loss's ``Dreg``/``Dboth`` (image + raw at gamma, mask at seg_gamma; double backward under
  conv2d_gradfix.no_weight_gradients), softplus(-logits), backward, Adam step.

Environment (no file of the checkout is edited): cwd and sys.path are the checkout's root and its
_train/eg3dc/src, and PROJECT_DN is the checkout (its _util/twodee_v1.py reads it at import). No module
stub is needed with the original's requirements installed; custom CUDA ops take their reference paths
on CPU, and its StyleGAN2 blocks force fp32 off CUDA.
"""
from __future__ import annotations

import json
import os
import re
import resource
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

RUN_CONFIG = "_configs/nova_human/human_multi_view_panic3d_mask_encoder_attention_train_4gpu.sh"
TRAINER = "_train/eg3dc/trainers/train_multi_view_panic3d_mask_encoder.py"
SRC = "_train/eg3dc/src"
# The trainer's defaults for flags the run config leaves out (its click options), and its fixed choices.
TRAINER_DEFAULTS = dict(map_depth=2, sr_num_fp16_res=4, d_num_fp16_res=4, seg_resolution=128, seg_channels=1,
                        mbstd_group=4, density_reg_p_dist=0.004, c_dim=25, img_resolution=512)
NOT_ORIGINAL_EXIT, MISSING_EXIT = 2, 3  # exit statuses of ``check``: a file is missing; an import fails


def run_flags(checkout: Path) -> dict[str, str]:
    """The ``--name=value`` flags of the paper's body run config."""
    lines = (line.split("#", 1)[0] for line in (checkout / RUN_CONFIG).read_text().splitlines())  # no comments
    return dict(re.findall(r"--([a-z_0-9]+)=(\S+)", "\n".join(lines)))


def setup_paths(checkout: Path) -> None:
    """Make this process import the checkout's modules, as its trainer does from $PROJECT_DN."""
    os.environ["PROJECT_DN"] = str(checkout)
    os.chdir(checkout)
    here = Path(__file__).resolve().parent
    ours = {"", str(here), str(here.parent), *os.environ.get("PYTHONPATH", "").split(os.pathsep)}
    # none of ours: our training/, torch_utils/, dnnlib/ and _train/ would shadow its (namespace) packages
    sys.path[:] = [str(checkout), str(checkout / SRC)] + [p for p in sys.path if p not in ours]


def build(checkout: Path, step: str) -> tuple[torch.nn.Module, dict[str, str], int]:
    """(network, flags, neural resolution) built as the trainer builds G or D from the run config."""
    import dnnlib

    f, d = run_flags(checkout), TRAINER_DEFAULTS
    common = dict(c_dim=d["c_dim"], img_resolution=d["img_resolution"], img_channels=3)
    neural = int(f["neural_rendering_resolution_final"])
    if step == "D":
        fp16 = d["d_num_fp16_res"]
        return dnnlib.util.construct_class_by_name(
            class_name=f["discriminator_module"], block_kwargs=dnnlib.EasyDict(freeze_layers=0),
            cond_mode=f["cond_mode"], mapping_kwargs=dnnlib.EasyDict(),
            epilogue_kwargs=dnnlib.EasyDict(mbstd_group_size=d["mbstd_group"]), channel_base=int(f["cbase_d"]),
            channel_max=int(f["cmax_d"]), seg_resolution=d["seg_resolution"], seg_channels=d["seg_channels"],
            disc_c_noise=0, num_fp16_res=fp16, conv_clamp=256 if fp16 > 0 else None, **common), f, neural
    rendering = dict(  # the trainer's rendering_options for cfg 'human' (the run name's first word)
        image_resolution=d["img_resolution"], disparity_space_sampling=False, clamp_mode="softplus",
        superresolution_module="training.superresolution.SuperresolutionHybrid8XDC",
        c_gen_conditioning_zero=True, gpc_reg_prob=None, c_scale=1, superresolution_noise_mode="none",
        density_reg=float(f["density_reg"]), density_reg_p_dist=d["density_reg_p_dist"], reg_type=f["reg_type"],
        decoder_lr_mul=1, sr_antialias=True, white_back=True, triplane_depth=int(f["triplane_depth"]),
        use_triplane=1, tanh_rgb_output=0, box_warp=2.1, ray_start=2.5, ray_end=4.5, distance=3.5,
        depth_resolution=48, depth_resolution_importance=48, avg_camera_radius=1.0, avg_camera_pivot=[0, 0, 0])
    encoder = dict(encoder=f["encoder_module"], batch_gpu=1,  # its config path is not read by Encoder_v1
                   encoder_config=str(checkout / "_train/swin_transformer/configs/swinv2.yaml"))
    g = dnnlib.util.construct_class_by_name(
        class_name=f["generator_module"], z_dim=512, w_dim=512, cond_mode=f["cond_mode"],
        multi_view_cond_mode=f["multi_view_cond_mode"], mapping_kwargs=dnnlib.EasyDict(num_layers=d["map_depth"]),
        channel_base=int(f["cbase_g"]), channel_max=int(f["cmax_g"]), sr_channels_hidden=int(f["sr_channels_hidden"]),
        triplane_width=int(f["triplane_width"]), backbone=f["generator_backbone"],
        backbone_resolution=int(f["backbone_resolution"]), fused_modconv_default="inference_only",
        rendering_kwargs=rendering, encoder_kwargs=encoder, num_fp16_res=0, conv_clamp=None,
        sr_num_fp16_res=d["sr_num_fp16_res"],
        sr_kwargs=dnnlib.EasyDict(channel_base=int(f["cbase_g"]), channel_max=int(f["cmax_g"]),
                                  fused_modconv_default="inference_only"), **common)
    g.neural_rendering_resolution = neural  # what the Gmain phase's synthesis call sets before Gcond-front
    return g, f, neural


def step_result(checkout: Path, step: str, timed: int) -> dict:
    """Build the original's G or D, run one untimed and `timed` timed steps; bench_step.py's JSON fields."""
    import torch
    import torch.nn.functional as F

    import _databacks.lustrous_renders_v1 as dklustr
    from torch_utils.ops import conv2d_gradfix

    torch.manual_seed(0)
    conv2d_gradfix.enabled = True  # as its training loop sets (a no-op off CUDA)
    net, flags, neural = build(checkout, step)
    net.train()
    # its ortho front camera label (25 = 16 extrinsics + 9 intrinsics; fov -1: negative focal = ortho rays)
    label = dklustr.camera_params_to_matrix("eg3d_lustrousB", elev=0.0, azim=0.0, dist=3.5, fov=-1)["camera_label"]
    label = label[None].float()
    size = TRAINER_DEFAULTS["img_resolution"]
    img = torch.rand(1, 3, size, size) * 2 - 1
    raw = torch.rand(1, 3, neural, neural) * 2 - 1
    front = (img + 1) / 2  # condition images in [0, 1] at 512, as its dataset gives them
    cond = {"image_ortho_front": front, "image_ortho_back": front.flip(-1),
            "image_ortho_front_camera": label,
            "resnet_chonk_front": torch.randn(1, 512, 8, 8)}  # precomputed ResNet features its dataset loads
    if step == "G":
        z = torch.randn(1, net.z_dim)

        def loss() -> torch.Tensor:
            zeros = torch.zeros(1)
            out = net.f({"z": z, "cond": cond, "camera_params": label, "elevations": zeros, "azimuths": zeros,
                         "distances": 3.5 * torch.ones(1), "paste_params": None})
            return (out["image"] - img).abs().mean() + (out["image_raw"] - raw).abs().mean()
    else:
        mask = torch.rand(1, 1, neural, neural)
        gamma, seg_gamma = float(flags["gamma"]), float(flags["seg_gamma"])

        def loss() -> torch.Tensor:
            inputs = [x.detach().requires_grad_() for x in (img, raw, mask)]
            logits = net({"image": inputs[0], "image_raw": inputs[1], "image_mask": inputs[2]}, label, cond)
            with conv2d_gradfix.no_weight_gradients():
                grads = torch.autograd.grad([logits.sum()], inputs, create_graph=True, only_inputs=True)
            r1 = (grads[0].square().sum() + grads[1].square().sum()) * (gamma / 2) \
                + grads[2].square().sum() * (seg_gamma / 2)
            return F.softplus(-logits).sum() + r1
    opt = torch.optim.Adam(net.parameters(), lr=0.002, betas=(0.0, 0.99))
    seconds = []
    for i in range(timed + 1):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss().backward()
        opt.step()
        if i > 0:
            seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2),
            "neural_resolution": neural, "sr_hidden_channels": int(flags["sr_channels_hidden"]),
            "parameters": sum(p.numel() for p in net.parameters()), "threads": torch.get_num_threads()}


def check(checkout: Path) -> int:
    """Print the run config used (a JSON line) if `checkout` is the original and what the steps use imports;
    else print one line to stderr and return NOT_ORIGINAL_EXIT (a file is missing) or MISSING_EXIT."""
    for rel in (RUN_CONFIG, TRAINER):
        if not (checkout / rel).is_file():
            print(f"{checkout} is not a checkout of the original NOVA-3D: {rel} is missing", file=sys.stderr)
            return NOT_ORIGINAL_EXIT
    try:
        import _databacks.lustrous_renders_v1  # noqa: F401
        import training.dual_discriminator  # noqa: F401
        import training.encoder  # noqa: F401
        import training.generator  # noqa: F401
        import training.triplane  # noqa: F401
    except ModuleNotFoundError as exc:
        print(f"missing module {exc.name!r} ({exc})", file=sys.stderr)
        return MISSING_EXIT
    except ImportError as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        return MISSING_EXIT
    print(json.dumps({"run_config": RUN_CONFIG, "trainer": TRAINER}))
    return 0


if __name__ == "__main__":
    checkout_ = Path(sys.argv[1]).resolve()
    if sys.argv[2] == "check":
        if (checkout_ / RUN_CONFIG).is_file():
            setup_paths(checkout_)
        sys.exit(check(checkout_))
    setup_paths(checkout_)
    print(json.dumps(step_result(checkout_, sys.argv[2], int(sys.argv[3]))))
