"""Each phase trains one network (the other is frozen), and the regularisers run in float32 under bf16
autocast, on the real presets' plane structure (3 slices x 16 channels) at the tiny sizes."""
from pathlib import Path

import pytest
import torch

from tests.train.conftest import full_structure_tiny
from training.train.config import TrainConfig
from training.train.loop import Trainer
from training.train.loss import LossConfig


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Tiny networks: one thread avoids synchronisation overhead."""


def _trainer(root: Path, run_dir: Path, **kw) -> Trainer:
    kw.setdefault("loss", LossConfig(density_reg_points=64))
    cfg = TrainConfig(run_dir=str(run_dir), data=str(root), preset="tiny", batch=2, workers=0, device="cpu",
                      mirror=False, n_sample_chars=1, **kw)
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


def test_reconstruction_warmup_runs_no_discriminator_and_no_gan_term(body_root, tmp_path, monkeypatch):
    """Within recon_warmup_kimg G trains on G_recon alone and D is untouched; after it, all four phases."""
    trainer = _trainer(body_root, tmp_path, recon_warmup_kimg=0.002)  # 2 images = the first step at batch 2
    phases, original = [], trainer.loss.forward
    monkeypatch.setattr(trainer.loss, "forward", lambda phase, *args: (phases.append(phase), original(phase, *args))[1])
    d_before = {k: v.clone() for k, v in trainer.D.state_dict().items()}
    batches = iter(trainer.loader())
    stats = trainer.train_step(next(batches))
    assert phases == ["G_recon", "G_reg"] and "G_gan" not in stats and "G_recon" in stats
    assert all(torch.equal(v, trainer.D.state_dict()[k]) for k, v in d_before.items())
    phases.clear()
    trainer.train_step(next(batches))
    assert phases == ["G_main", "D_main"]  # step 1: no lazy regulariser is due


def test_recon_views_adds_the_random_views_to_the_reconstruction(body_root, tmp_path):
    """With recon_random_views the random views' targets enter G_recon: a wrong random-view target changes
    the loss, and it does not without the switch."""
    def recon(switch: bool, spoil: bool) -> float:
        trainer = _trainer(body_root, tmp_path, views_per_item=2,
                           loss=LossConfig(density_reg_points=64, recon_random_views=switch))
        batch = next(iter(trainer.loader()))
        assert batch["views_rgb"].shape[1] == 2
        if spoil:
            batch["views_rgb"] = -batch["views_rgb"]
        z, noise = trainer._draw()
        torch.manual_seed(0)
        with torch.no_grad():
            return float(trainer.phase_loss("G_recon", batch, z, noise)[1]["G_recon"])

    assert recon(False, False) == recon(False, True)
    assert recon(True, False) != pytest.approx(recon(True, True), rel=1e-3)
