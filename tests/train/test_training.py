import os
import socket
from pathlib import Path


import pytest
import torch
import torch.multiprocessing as mp

from training.train import snapshot as snapshot_mod
from training.train.distributed import GlobalBatchSampler
from training.train.loss import LossConfig
from training.train.snapshot import list_snapshots, load_snapshot
from training.train.config import CPU_RENDER_CHUNK, TrainConfig, effective_render_chunk
from training.train.loop import Trainer

# intervals of 2 so that both lazy regularisers run on both sides of a resume
FAST_LOSS = LossConfig(density_reg_interval=2, r1_interval=2, density_reg_points=64)


def _cfg(root: Path, run_dir: Path, **kw) -> TrainConfig:
    base = dict(run_dir=str(run_dir), data=str(root), preset="tiny", batch=2, kimg=0.004, tick_kimg=0.002,
                snap_ticks=1, workers=0, device="cpu", n_sample_chars=2, loss=FAST_LOSS)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Tiny networks: one thread avoids synchronisation overhead (and matches the DDP workers)."""


def _params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


@pytest.mark.parametrize("data_preset", ["body", "head"])
def test_one_training_step_per_preset(data_preset, body_root, head_root, tmp_path):
    root = body_root if data_preset == "body" else head_root
    trainer = Trainer(_cfg(root, tmp_path, data_preset=data_preset))
    before = _params(trainer.G), _params(trainer.D)
    batch = next(iter(trainer.loader()))
    stats = trainer.train_step(batch)
    for key in ("G_gan", "G_recon", "G_density", "D_loss", "D_r1", "D_r1_mask"):
        assert key in stats and torch.isfinite(torch.tensor(stats[key])), key
    for old, module in zip(before, (trainer.G, trainer.D)):
        changed = [k for k, v in module.named_parameters() if not torch.equal(v, old[k])]
        assert len(changed) > len(old) // 2
    assert trainer.nimg == 2 and trainer.nan_skips == 0


def test_render_chunk_default_is_by_device(body_root, tmp_path):
    """Unset, G renders in recomputed chunks on CPU (lighter and faster there) and all at once on CUDA."""
    assert effective_render_chunk(None, torch.device("cpu")) == CPU_RENDER_CHUNK
    assert effective_render_chunk(None, torch.device("cuda")) == 0
    assert effective_render_chunk(0, torch.device("cpu")) == 0 and effective_render_chunk(64, torch.device("cuda")) == 64
    chunked = Trainer(_cfg(body_root, tmp_path / "a")).G.renderer.cfg
    assert (chunked.chunk, chunked.recompute) == (CPU_RENDER_CHUNK, True)
    whole = Trainer(_cfg(body_root, tmp_path / "b", render_chunk=0)).G.renderer.cfg
    assert (whole.chunk, whole.recompute) == (None, False)


def test_minutes_stop_the_run_with_a_snapshot(body_root, tmp_path, capsys):
    """--minutes: past the wall-clock budget the run stops after the current step, logs a tick and saves a
    snapshot, though kimg is far from done."""
    trainer = Trainer(_cfg(body_root, tmp_path, kimg=1.0, minutes=1e-6))
    trainer.run()
    assert trainer.nimg == 2  # one step of batch 2, not 1000 images
    assert len(list_snapshots(tmp_path)) == 1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
    assert "(--minutes)" in capsys.readouterr().out


def test_run_writes_snapshots_samples_and_metrics(body_root, tmp_path):
    Trainer(_cfg(body_root, tmp_path)).run()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "config.json" in names and "metrics.jsonl" in names and "samples-000000.png" in names
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2  # one line per tick
    state = load_snapshot(list_snapshots(tmp_path)[-1])
    assert set(state) >= {"G", "G_ema", "D", "opt_G", "opt_D", "rng", "gen", "progress"}
    assert state["progress"]["nimg"] == 4


def test_resume_continues_exactly(body_root, tmp_path):
    # 3 steps straight vs 1 step + resume + 2 steps; step 2 runs both regularisers after the resume
    straight = Trainer(_cfg(body_root, tmp_path / "a", kimg=0.006, workers=1))
    straight.run()
    first = Trainer(_cfg(body_root, tmp_path / "b", kimg=0.002, workers=1))
    first.run()
    resumed = Trainer(_cfg(body_root, tmp_path / "b", kimg=0.006, workers=1))
    resumed.run(load_snapshot(list_snapshots(tmp_path / "b")[-1]))
    assert resumed.nimg == straight.nimg == 6 and resumed.step == 3
    for name in ("G", "G_ema", "D"):
        a, b = _params(getattr(straight, name)), _params(getattr(resumed, name))
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6, msg=f"{name}.{key}")


def test_interrupted_snapshot_write_keeps_previous(body_root, tmp_path, monkeypatch):
    trainer = Trainer(_cfg(body_root, tmp_path))
    first = trainer.save_snapshot()
    trainer.nimg = 1000

    def broken_save(obj, f):
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as out:
                out.write(b"partial snapshot bytes")
        else:
            f.write(b"partial snapshot bytes")
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(snapshot_mod.torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        trainer.save_snapshot()
    assert list_snapshots(tmp_path) == [first]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert load_snapshot(first)["progress"]["nimg"] == 0


def test_global_batch_sampler_is_independent_of_world_size():
    single = GlobalBatchSampler(7, 4, 0, 1, seed=3)
    ranks = [GlobalBatchSampler(7, 4, r, 2, seed=3) for r in range(2)]
    it, rit = iter(single), [iter(r) for r in ranks]
    for _ in range(5):  # crosses epoch boundaries (7 items, batches of 4)
        expected = [next(it) for _ in range(4)]
        got = [next(rit[0]) for _ in range(2)] + [next(rit[1]) for _ in range(2)]
        assert got == expected
    resumed = iter(GlobalBatchSampler(7, 4, 0, 1, seed=3, start_batch=2))
    fresh = iter(GlobalBatchSampler(7, 4, 0, 1, seed=3))
    for _ in range(8):
        next(fresh)
    assert [next(resumed) for _ in range(8)] == [next(fresh) for _ in range(8)]


def _ddp_cfg(root: Path, run_dir: Path) -> TrainConfig:
    # no randomness that depends on the per-process batch: constant noise, no ray jitter, and a
    # minibatch-std group of 1 (a group spanning processes cannot match a single-process batch)
    return _cfg(root, run_dir, noise_mode="const", ray_jitter=False, mbstd_group=1, mirror=False)


def _phase_grads(trainer: Trainer, phase: str) -> dict[str, torch.Tensor]:
    """Gradients of one phase on the first global batch (averaged over processes by DDP)."""
    batch = next(iter(trainer.loader()))
    z, noise = trainer._draw()
    trainer.opt_G.zero_grad(set_to_none=True)
    trainer.opt_D.zero_grad(set_to_none=True)
    loss, _ = trainer.phase_loss(phase, batch, z, noise)
    loss.backward()
    named = [*trainer.G.named_parameters(prefix="G"), *trainer.D.named_parameters(prefix="D")]
    grads = {f"{phase}.{k}": p.grad.clone() for k, p in named if p.grad is not None}
    trainer.gen.manual_seed(trainer.cfg.seed + 1)
    return grads


def _ddp_worker(rank: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2",
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    trainer = Trainer(_ddp_cfg(Path(root), Path(out) / "run"))
    grads = {**_phase_grads(trainer, "G_main"), **_phase_grads(trainer, "D_reg")}
    trainer.run()
    own_noise = torch.rand(8)  # the next draw of this rank's own stream (synthesis noise, ray jitter)
    torch.save({"grads": grads, "G": trainer.G.state_dict(), "D": trainer.D.state_dict(), "noise": own_noise},
               Path(out) / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


def test_ddp_two_processes_match_single_process(body_root, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(port, str(body_root), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert not torch.equal(ranks[0]["noise"], ranks[1]["noise"]), "both ranks draw the same per-rank noise"
    single = Trainer(_ddp_cfg(body_root, tmp_path / "single"))
    grads = {**_phase_grads(single, "G_main"), **_phase_grads(single, "D_reg")}
    # DDP's averaged gradients of a global batch split over 2 processes equal the single-process ones
    assert grads.keys() == ranks[0]["grads"].keys() and len(grads) > 100
    # float32 sums run in another order. Per phase, the whole gradient agrees to 1e-3 of its norm. Per
    # tensor, the difference is compared with the tensor's gradient or, where that is tiny or analytically
    # zero (a norm bias before avgpool(y) - y), a thousandth of the phase's total, within 5e-2: on one
    # 2-core machine (its CPU kernels) the synthesis noise strengths' small gradients differed by up to
    # 1.8e-2 of that, float noise, while a DDP mistake on a tensor (a sum for a mean, a missing all-reduce)
    # is of order 1
    total = {phase: sum(float(v.norm()) ** 2 for k, v in grads.items() if k.startswith(phase)) ** 0.5
             for phase in ("G_main", "D_reg")}
    for phase in total:
        diff = sum(float((ranks[0]["grads"][k] - v).norm()) ** 2 for k, v in grads.items() if k.startswith(phase))
        assert diff ** 0.5 < 1e-3 * total[phase], f"{phase}: relative gradient difference {diff ** 0.5 / total[phase]:.2e}"
    for key, value in grads.items():
        scale = max(float(value.norm()), 1e-3 * total[key.split(".")[0]])
        error = float((ranks[0]["grads"][key] - value).norm()) / scale
        assert error < 5e-2, f"{key}: relative gradient difference {error:.2e}"
    single.run()
    differing = total = 0
    for name in ("G", "D"):
        reference = getattr(single, name).state_dict()
        for key, value in reference.items():
            if not value.is_floating_point() or key.endswith("w_avg"):
                continue  # w_avg is a running statistic broadcast from rank 0, not a parameter
            assert torch.equal(ranks[0][name][key], ranks[1][name][key]), f"ranks differ at {name}.{key}"
            differing += int(((ranks[0][name][key] - value).abs() > 1e-4).sum())
            total += value.numel()
    # Adam moves every weight by about +-lr in its first steps whatever the gradient's size, so where a
    # gradient is analytically ~0 (layer-scaled encoder blocks), float rounding decides the sign: a few
    # elements may differ after the run (0.3-2.5 % on the machines tried), the gradients above are the exact
    # check; a run whose ranks did not average would differ almost everywhere
    assert differing / total < 0.05, f"{differing / total:.2%} of parameters differ from the single-process run"


def test_body_and_head_presets_are_the_papers_run():
    """The original's body and head attention runs: neural render 96, SR from 128 with 16 (then 8) channels."""
    from training.train.presets import model_config

    for preset in ("body", "head"):
        g = model_config(preset).generator
        assert (g.neural_resolution, g.sr.input_resolution, g.sr.hidden_channels) == (96, 128, 16), preset


def test_neural_resolution_replaces_the_presets_render_size(body_root, tmp_path):
    """--neural-res: tiny's SR takes the render as it is, so its input follows; body's resizes the render to
    128 first and keeps that; the render and the raw targets of a training step are at the new size."""
    from training.train.presets import model_config

    tiny = model_config("tiny", neural_resolution=64).generator
    assert (tiny.neural_resolution, tiny.sr.input_resolution) == (64, 64)
    body = model_config("body", neural_resolution=64).generator
    assert (body.neural_resolution, body.sr.input_resolution) == (64, 128)
    with pytest.raises(ValueError, match="outside 8..64"):
        model_config("tiny", neural_resolution=128)
    trainer = Trainer(_cfg(body_root, tmp_path, neural_resolution=16, superresolution=False))
    trainer.train_step(next(iter(trainer.loader())))
    from training.data.layout import PRESETS
    label = PRESETS["body"].ortho_params("front").label()[None].float()
    out = trainer.G_ema(*(torch.zeros(1, 3, 64, 64),) * 2, label)
    assert out.image_raw.shape[-1] == 16 and out.image.shape[-1] == 64


def test_resume_builds_the_snapshots_networks_not_the_presets(body_root, tmp_path):
    """A snapshot trained with other network sizes than its preset has now (here a wider SR) resumes."""
    from dataclasses import replace

    from training.train.loop import train
    from training.train.presets import model_config

    mc = model_config("tiny")
    wide = replace(mc, generator=replace(mc.generator, sr=replace(mc.generator.sr, hidden_channels=48)))
    Trainer(_cfg(body_root, tmp_path, kimg=0.002), model=wide).run()
    resumed = train(_cfg(body_root, tmp_path, kimg=0.004), load_snapshot(list_snapshots(tmp_path)[-1]))
    assert resumed.model_cfg.generator.sr.hidden_channels == 48 and resumed.nimg == 4
