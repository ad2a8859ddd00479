"""G's plain PyTorch modules (PAT encoder, fusion, decoder) get their own learning rates, and with them the
reconstruction loss falls in a short run without blowing up, at the real plane structure (3 x 16)."""
import math

import pytest
import torch

from tests.train.conftest import full_structure_tiny
from training.train.config import TrainConfig
from training.train.loop import Trainer
from training.train.loss import LossConfig


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Tiny networks: one thread avoids synchronisation overhead."""


def test_plain_modules_get_their_multiplied_learning_rates(body_root, tmp_path):
    cfg = TrainConfig(run_dir=str(tmp_path), data=str(body_root), preset="tiny", workers=0, device="cpu",
                      loss=LossConfig(density_reg_points=64))
    trainer = Trainer(cfg, model=full_structure_tiny())
    ratio = cfg.loss.density_reg_interval / (cfg.loss.density_reg_interval + 1)
    groups = {g["name"]: g for g in trainer.opt_G.param_groups}
    expected = {"equalised": 1.0, "encoder": cfg.encoder_lr_mult, "fusion": cfg.fusion_lr_mult,
                "decoder": cfg.decoder_lr_mult}
    assert {name: g["lr"] for name, g in groups.items()} == pytest.approx(
        {name: cfg.lr_g * mult * ratio for name, mult in expected.items()})
    for name in ("encoder", "fusion", "decoder"):
        assert {id(p) for p in groups[name]["params"]} == {id(p) for p in getattr(trainer.G, name).parameters()}
    grouped = [id(p) for g in groups.values() for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in trainer.G.parameters())  # each parameter exactly once


def _recon(trainer: Trainer, batch: dict) -> float:
    torch.manual_seed(0)  # the same synthesis noise and ray jitter at every evaluation
    with torch.no_grad():
        return float(trainer.loss.generator_main(batch, torch.zeros(2, trainer.G.cfg.backbone.z_dim))[1]["G_recon"])


def test_reconstruction_falls_and_stays_finite(body_root, tmp_path):
    trainer = Trainer(TrainConfig(run_dir=str(tmp_path), data=str(body_root), preset="tiny", batch=2, workers=0,
                                  device="cpu", mirror=False, loss=LossConfig(density_reg_points=64)),
                      model=full_structure_tiny())
    batches = iter(trainer.loader())
    fixed = next(batches)
    before = _recon(trainer, fixed)
    for _ in range(6):
        stats = trainer.train_step(next(batches))
        assert all(math.isfinite(v) for v in stats.values()), stats
    after = _recon(trainer, fixed)
    print(f"G_recon on a training batch {before:.2f} -> {after:.2f}")
    assert trainer.nan_skips == 0 and after < 0.95 * before  # measured: 118.4 -> 107.0 (-10%)


def test_snapshot_from_before_the_groups_resumes_with_its_adam_moments(body_root, tmp_path):
    """Old snapshots hold opt_G as one group over G.parameters(); resuming moves each parameter's Adam
    moments to it in the grouped optimizer."""
    cfg = TrainConfig(run_dir=str(tmp_path), data=str(body_root), preset="tiny", workers=0, device="cpu",
                      loss=LossConfig(density_reg_points=64))
    trainer = Trainer(cfg)
    trainer.train_step(next(iter(trainer.loader())))
    state = trainer.state_dict()
    grouped = state["opt_G"]
    # parameters without a gradient have no Adam state (the fusion's key bias, which cancels in its softmax)
    by_param = {id(p): grouped["state"][k] for k, p in
                enumerate(p for g in trainer.opt_G.param_groups for p in g["params"]) if k in grouped["state"]}
    params = list(trainer.G.parameters())
    old = {"state": {k: by_param[id(p)] for k, p in enumerate(params) if id(p) in by_param},
           "param_groups": [dict(grouped["param_groups"][0], params=list(range(len(params))))]}
    resumed = Trainer(cfg)
    resumed.load_state_dict(dict(state, opt_G=old))
    names = dict(trainer.G.named_parameters())
    assert len(resumed.opt_G.state) == len(trainer.opt_G.state) > 0
    for name, p in resumed.G.named_parameters():
        if names[name] not in trainer.opt_G.state:
            assert p not in resumed.opt_G.state
            continue
        torch.testing.assert_close(resumed.opt_G.state[p]["exp_avg"], trainer.opt_G.state[names[name]]["exp_avg"],
                                   rtol=0, atol=0)
    assert len(resumed.opt_G.param_groups) == 4
