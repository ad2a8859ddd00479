"""Each phase trains one network (the other is frozen), and the regularisers run in float32 under bf16
autocast, on the real presets' plane structure (3 slices x 16 channels) at the tiny sizes."""
from pathlib import Path

import pytest
import torch

from tests.train.conftest import full_structure_tiny
from training.train.loop import TrainConfig, Trainer
from training.train.loss import LossConfig


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Tiny networks: one thread avoids synchronisation overhead."""


def _trainer(root: Path, run_dir: Path, **kw) -> Trainer:
    cfg = TrainConfig(run_dir=str(run_dir), data=str(root), preset="tiny", batch=2, workers=0, device="cpu",
                      mirror=False, n_sample_chars=1, loss=LossConfig(density_reg_points=64), **kw)
    return Trainer(cfg, model=full_structure_tiny())


def test_each_phase_computes_gradients_of_its_own_network_only(body_root, tmp_path, monkeypatch):
    trainer = _trainer(body_root, tmp_path)
    phases, original = [], trainer.loss.forward

    def forward(phase, *args):
        phases.append(phase)
        return original(phase, *args)

    monkeypatch.setattr(trainer.loss, "forward", forward)
    computed = set()
    for name, net in (("G", trainer.G), ("D", trainer.D)):
        for p in net.parameters():
            p.register_post_accumulate_grad_hook(lambda _, name=name: computed.add((phases[-1], name)))
    trainer.train_step(next(iter(trainer.loader())))  # step 0 runs all four phases
    assert phases == ["G_main", "G_reg", "D_main", "D_reg"]
    assert computed == {("G_main", "G"), ("G_reg", "G"), ("D_main", "D"), ("D_reg", "D")}


def _phase_grads(trainer: Trainer, phase: str) -> dict[str, torch.Tensor]:
    batch = next(iter(trainer.loader()))
    z, noise = trainer._draw()
    trainer.opt_G.zero_grad(set_to_none=True)
    trainer.opt_D.zero_grad(set_to_none=True)
    torch.manual_seed(0)  # the same synthesis noise in both trainers
    loss, _ = trainer.phase_loss(phase, batch, z, noise)
    loss.backward()
    named = [*trainer.G.named_parameters(prefix="G"), *trainer.D.named_parameters(prefix="D")]
    return {k: p.grad for k, p in named if p.grad is not None}


def _relative_error(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys() and a
    diff = sum(float((a[k] - b[k]).norm()) ** 2 for k in a) ** 0.5
    return diff / sum(float(v.norm()) ** 2 for v in a.values()) ** 0.5


def test_regularisers_match_float32_under_bf16_training(body_root, tmp_path):
    fp32, bf16 = (_trainer(body_root, tmp_path / amp, amp=amp) for amp in ("off", "bf16"))
    assert bf16.autocast and not fp32.autocast  # bf16 autocast on the CPU too when asked for
    # the main phase really runs in bf16 (so the comparison below is not vacuous)...
    assert _relative_error(_phase_grads(fp32, "D_main"), _phase_grads(bf16, "D_main")) > 1e-3
    # ...and the regularisers' gradients (R1 is a double backward) equal the float32 reference
    for phase in ("D_reg", "G_reg"):
        error = _relative_error(_phase_grads(fp32, phase), _phase_grads(bf16, phase))
        assert error < 1e-5, f"{phase}: gradient differs from float32 by {error:.2e}"
