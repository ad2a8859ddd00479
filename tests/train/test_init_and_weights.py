"""Starting D from other weights (--resume-d) and the perceptual-loss substitute (said, recorded, --strict)."""
import json

import pytest
import torch

from training.metrics import weights
from training.model.discriminator import DualDiscriminator
from training.train.config import TrainConfig
from training.train.loop import Trainer
from training.train.loss import LossConfig
from training.train.presets import model_config
from training.train.snapshot import init_discriminator, load_snapshot


def _fresh_d() -> DualDiscriminator:
    torch.manual_seed(1)
    return DualDiscriminator(model_config("tiny").discriminator)


def test_d_from_our_snapshot_and_from_a_state_dict_by_name(tiny_snapshot, tmp_path):
    saved = load_snapshot(tiny_snapshot)["D"]
    D = _fresh_d()
    report = init_discriminator(D, tiny_snapshot)
    assert all(torch.equal(v, saved[k]) for k, v in D.state_dict().items())
    assert report == f"D initialised from {tiny_snapshot}: {len(saved)} tensors loaded; missing 0 []; unexpected 0 []"
    partial = {k: v for k, v in saved.items() if k != "epilogue.out.bias"} | {"extra.weight": torch.zeros(2)}
    torch.save(partial, tmp_path / "d.pt")
    D = _fresh_d()
    initial = D.state_dict()["epilogue.out.bias"].clone()
    report = init_discriminator(D, tmp_path / "d.pt")
    assert "missing 1 ['epilogue.out.bias']; unexpected 1 ['extra.weight']" in report and "\n" not in report
    assert torch.equal(D.state_dict()["epilogue.out.bias"], initial)  # a missing key keeps its initial value


def test_d_weights_of_another_shape_or_holding_code_are_refused(tiny_snapshot, tmp_path):
    saved = load_snapshot(tiny_snapshot)["D"]
    key = next(k for k, v in saved.items() if v.ndim == 4)
    torch.save(dict(saved, **{key: torch.zeros(1, 1, 1, 1)}), tmp_path / "wrong.pt")
    with pytest.raises(ValueError, match=rf"wrong\.pt: {key} has shape \(1, 1, 1, 1\), the discriminator's is"):
        init_discriminator(_fresh_d(), tmp_path / "wrong.pt")
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (marker.touch, ())

    torch.save({"D": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"evil\.pt: refused: not a plain NOVA-3D snapshot") as refused:
        init_discriminator(_fresh_d(), tmp_path / "evil.pt")
    assert not marker.exists()
    assert "weights_only" not in str(refused.value) and "\n" not in str(refused.value)  # never the unsafe advice


@pytest.fixture
def no_lpips_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv(weights.DIR_ENV, raising=False)
    monkeypatch.delenv(weights.get("alexnet").env, raising=False)


def _cfg(root, run_dir, **kw) -> TrainConfig:
    return TrainConfig(run_dir=str(run_dir), data=str(root), preset="tiny", batch=2, kimg=0.002, tick_kimg=0.002,
                       workers=0, device="cpu", n_sample_chars=1, loss=LossConfig(density_reg_points=64), **kw)


def test_substitute_is_said_and_recorded_and_strict_refuses_it(no_lpips_weights, tiny_snapshot, body_root, tmp_path,
                                                               capsys, single_thread):
    with pytest.raises(weights.WeightsMissing, match="^weights missing: alexnet"):
        Trainer(_cfg(body_root, tmp_path / "strict", strict=True))
    Trainer(_cfg(body_root, tmp_path / "run", resume_d=str(tiny_snapshot))).run()
    printed = capsys.readouterr().out
    assert f"D initialised from {tiny_snapshot}" in printed
    assert "perceptual loss: L1 + (1 - MS-SSIM) substitute, LPIPS n/a (weights missing" in printed
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["perceptual_loss"].startswith("L1 + (1 - MS-SSIM) substitute")
    assert record["resume_d"] == str(tiny_snapshot) and record["strict"] is False
