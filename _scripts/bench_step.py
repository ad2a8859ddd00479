"""One timed training step of ``python -m _scripts.bench compare``: run by path in a fresh process whose
PYTHONPATH is the checkout under test, so it imports that checkout's ``training`` and nothing of ours
besides (it must work on older checkouts too). Prints one JSON line.

``python _scripts/bench_step.py PRESET G|D NEURAL SR_HIDDEN TIMED [RENDER_CHUNK]`` (0 for NEURAL / SR_HIDDEN: the
preset's; RENDER_CHUNK: rays per recomputed render chunk, default -1: the training default's).

The process first takes the trainer's CPU memory setting (``--reuse-memory``, its default: glibc keeps freed
memory, torch_utils/cpu_memory.py) where the checkout has it, as a training process does.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from dataclasses import replace


def step_result(preset: str, step: str, neural: int | None, sr_hidden: int | None, timed: int,
                render_chunk: int = -1) -> dict:
    """Build the preset's networks from whatever ``training`` is on the path, run one untimed and `timed`
    timed steps, and return the seconds, the configuration used and the process's peak resident memory."""
    try:
        from torch_utils.cpu_memory import keep_freed_memory
    except ImportError:  # a checkout from before it: the system allocator's behaviour
        keep_freed_memory = None
    reuse_memory = keep_freed_memory() if keep_freed_memory is not None else False
    import torch
    import torch.nn.functional as F

    from training.data.layout import PRESETS
    from training.model.discriminator import DualDiscriminator
    from training.model.triplane import NovaGenerator
    try:  # the trainer's settings (in training.train.loop, without device defaults, before config.py)
        from training.train.config import TrainConfig, effective_render_chunk
    except ImportError:
        from training.train.loop import TrainConfig
        effective_render_chunk = None
    from training.train.presets import model_config

    torch.manual_seed(0)
    mc = model_config(preset)
    g = mc.generator
    if neural is not None:
        g = replace(g, neural_resolution=neural)
    if sr_hidden is not None:
        g = replace(g, sr=replace(g.sr, hidden_channels=sr_hidden, input_resolution=128))
    chunk = render_chunk
    if chunk < 0:  # the trainer default's on CPU
        chunk = (effective_render_chunk(TrainConfig.render_chunk, torch.device("cpu")) if effective_render_chunk
                 else getattr(TrainConfig, "render_chunk", 0))
    if chunk:
        g = replace(g, render=replace(g.render, chunk=chunk, recompute=True))
    label = PRESETS[mc.data_preset].ortho_params("front").label()[None].float()
    size = g.sr.img_resolution
    img = torch.rand(1, 3, size, size) * 2 - 1
    raw = torch.rand(1, 3, g.neural_resolution, g.neural_resolution) * 2 - 1
    if step == "G":
        net = NovaGenerator(g)
        cond = F.interpolate(img, size=(mc.cond_resolution, mc.cond_resolution), mode="bilinear")
        cond_front, cond_back, z = cond, cond.flip(-1), torch.randn(1, g.backbone.z_dim)

        def loss() -> torch.Tensor:
            out = net(cond_front, cond_back, label, z=z)
            return (out.image - img).abs().mean() + (out.image_raw - raw).abs().mean()
    else:
        net = DualDiscriminator(mc.discriminator)
        mask = torch.rand(1, 1, size, size)

        def loss() -> torch.Tensor:
            inputs = [x.detach().requires_grad_() for x in (img, raw, mask)]
            logits = net(*inputs[:2], label, inputs[2])
            grads = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
            r1 = 5.0 / 2 * sum(gr.square().sum() for gr in grads[:2]) + 1.0 / 2 * grads[2].square().sum()
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
            "neural_resolution": g.neural_resolution, "sr_hidden_channels": g.sr.hidden_channels,
            "parameters": sum(p.numel() for p in net.parameters()), "threads": torch.get_num_threads(),
            "render_chunk": chunk, "reuse_memory": reuse_memory}


if __name__ == "__main__":
    preset_, step_, neural_, sr_hidden_, timed_ = sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:6])
    chunk_ = int(sys.argv[6]) if len(sys.argv) > 6 else -1
    print(json.dumps(step_result(preset_, step_, neural_ or None, sr_hidden_ or None, timed_, chunk_)))
