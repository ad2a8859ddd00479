"""The training loop: phases G main / G reg / D main / D reg, EMA, ticks, snapshots, exact resume.

One process per GPU under torchrun (gloo on CPU). Each phase trains one network: the other one's
requires_grad is off, and G's and D's phases run through their own DistributedDataParallel module
(training.train.loss.PhaseModule), whose backward syncs only the trained network's gradients, so there
is no manual all-reduce. Only rank 0 writes. Randomness that defines the result (z, regulariser noise,
data order, random views) is drawn for the whole global batch from seeded generators, so the parameters
do not depend on how many processes share the batch, and a resumed run reproduces the uninterrupted one;
each rank's own noise (synthesis noise, ray jitter) is seeded per rank and step.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from dnnlib import dataclass_from_dict
from dnnlib.files import write_text_atomic
from training.data.dataset import DatasetConfig, NovaHumanDataset
from training.data.mix import MixedDataset
from training.data.validate import validate_splits
from training.train.config import TrainConfig, effective_render_chunk
from training.model.discriminator import DualDiscriminator
from training.train.distributed import DistInfo, GlobalBatchSampler, init_distributed, process_seed
from training.train.loss import G_PHASES, NovaLoss, PhaseModule
from training.metrics.perceptual import perceptual_loss
from training.train.presets import ModelConfig, model_config
from training.train.samples import save_sample_grid
from training.train.snapshot import (atomic_save, init_discriminator, remove_temp_files, rng_state, set_rng_state,
                                     snapshot_name)
from training.model.triplane import NovaGenerator


def validate_training_data(cfg: TrainConfig, data_preset: str, progress: bool = False) -> None:
    """Refuse a dataset with problems before any compute: every character of the train and val splits
    (val, the sample grids' characters, may be absent or empty), headers only or with cfg.full_check every
    pixel; a pass is remembered per data root (training/data/validate.py). Raises DatasetProblems. The
    extra roots (cfg.extra_data) are checked the same way."""
    for root in (cfg.data, *cfg.extra_data):
        validate_splits(Path(root), data_preset, ("train", "val"), optional=("val",), full=cfg.full_check,
                        use_features=cfg.use_features, progress=progress)


def _logged_step(line: str) -> int | None:
    """The step of one whole metrics.jsonl line; None for a torn or empty one."""
    try:
        record = json.loads(line) if line.endswith("\n") else None
    except json.JSONDecodeError:
        return None
    return record.get("step", 0) if isinstance(record, dict) else None


class Trainer:
    """model: the networks; default the preset's with cfg's switches (tests pass other sizes)."""

    def __init__(self, cfg: TrainConfig, dist_info: DistInfo | None = None, model: ModelConfig | None = None):
        self.cfg = cfg
        self.dist = dist_info or init_distributed(cfg.device)
        self.device = self.dist.device
        self.autocast = cfg.amp == "bf16" or (cfg.amp == "auto" and self.device.type == "cuda")
        self.run_dir = Path(cfg.run_dir)
        torch.manual_seed(cfg.seed)  # the same initial networks on every rank
        mc = model or model_config(cfg.preset, cfg.fusion, cfg.encoder, cfg.mask_d, cfg.superresolution,
                                   cfg.neural_resolution)
        mc = replace(mc, generator=replace(mc.generator, use_precomputed_features=cfg.use_features))
        chunk = effective_render_chunk(cfg.render_chunk, self.device)
        if chunk:
            render = replace(mc.generator.render, chunk=chunk, recompute=True)
            mc = replace(mc, generator=replace(mc.generator, render=render))
        if cfg.mbstd_group is not None:  # copies, so a ModelConfig passed in is never changed
            mc = replace(mc, discriminator=replace(mc.discriminator, mbstd_group_size=cfg.mbstd_group))
        self.model_cfg = mc
        validate_training_data(cfg, cfg.data_preset or mc.data_preset, progress=self.dist.is_main)
        self.G = NovaGenerator(mc.generator).to(self.device)
        self.D = DualDiscriminator(mc.discriminator).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.G.train()
        self.G.renderer.train(cfg.ray_jitter)
        perceptual, self.perceptual_desc = perceptual_loss(strict=cfg.strict)
        self.loss = NovaLoss(self.G, self.D, cfg.loss, perceptual.to(self.device), cfg.noise_mode)
        self.g_phases, self.d_phases = (self._distributed(PhaseModule(self.loss, net)) for net in (self.G, self.D))
        self.opt_G = self._adam(self.generator_param_groups(), cfg.lr_g, cfg.loss.density_reg_interval)
        self.opt_D = self._adam([{"params": list(self.D.parameters())}], cfg.lr_d, cfg.loss.r1_interval)
        self.data = MixedDataset([NovaHumanDataset(DatasetConfig(
            root=root, preset=cfg.data_preset or mc.data_preset, split="train", mirror=cfg.mirror,
            resolution=mc.generator.sr.img_resolution, cond_resolution=mc.cond_resolution,
            views_per_item=cfg.views_per_item, use_features=cfg.use_features, seed=cfg.seed))
            for root in (cfg.data, *cfg.extra_data)], cfg.data_weights, cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1)  # z and regulariser noise, global batch
        self.nimg = self.step = self.nan_skips = 0
        self.snapshot_nimg: int | None = None  # progress of the run's last snapshot (written or resumed from)

    def _distributed(self, module: PhaseModule) -> torch.nn.Module:
        if self.dist.world_size == 1:
            return module
        return DistributedDataParallel(module, device_ids=[self.device] if self.device.type == "cuda" else None,
                                       find_unused_parameters=True)  # G_reg leaves the superresolution out

    def generator_param_groups(self) -> list[dict]:
        """G's parameters by learning rate: the plain-layer modules at lr_g x their multiplier, the rest at lr_g."""
        mults = {"encoder": self.cfg.encoder_lr_mult, "fusion": self.cfg.fusion_lr_mult,
                 "decoder": self.cfg.decoder_lr_mult}
        groups = [{"name": name, "lr_mult": mult, "params": list(getattr(self.G, name).parameters())}
                  for name, mult in mults.items() if getattr(self.G, name) is not None]
        grouped = {id(p) for g in groups for p in g["params"]}
        rest = [p for p in self.G.parameters() if id(p) not in grouped]
        return [{"name": "equalised", "lr_mult": 1.0, "params": rest}] + groups

    def _adam(self, groups: list[dict], lr: float, reg_interval: int) -> torch.optim.Adam:
        """Adam with StyleGAN2's lazy-regularisation correction of lr and betas; groups' lr = lr x lr_mult."""
        ratio = reg_interval / (reg_interval + 1)
        b1, b2 = self.cfg.betas
        groups = [dict(g, lr=lr * g.get("lr_mult", 1.0) * ratio) for g in groups]
        # foreach: one fused kernel per op over all tensors (PyTorch picks it only on CUDA by default; on
        # CPU the per-parameter loop cost a third of a tiny-preset G step)
        return torch.optim.Adam(groups, lr=lr * ratio, betas=(b1 ** ratio, b2 ** ratio), eps=1e-8, foreach=True)

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict:
        return {"G": self.G.state_dict(), "G_ema": self.G_ema.state_dict(), "D": self.D.state_dict(),
                "opt_G": self.opt_G.state_dict(), "opt_D": self.opt_D.state_dict(), "rng": rng_state(),
                "gen": self.gen.get_state(), "progress": {"nimg": self.nimg, "step": self.step,
                                                           "nan_skips": self.nan_skips},
                "train_config": json.dumps(asdict(self.cfg)), "model_config": json.dumps(asdict(self.model_cfg))}

    def load_state_dict(self, state: dict) -> None:
        for name in ("G", "G_ema", "D", "opt_D"):
            getattr(self, name).load_state_dict(state[name])
        self.opt_G.load_state_dict(self._in_current_groups(state["opt_G"]))
        self.gen.set_state(state["gen"])
        set_rng_state(state["rng"])
        self.nimg, self.step, self.nan_skips = (state["progress"][k] for k in ("nimg", "step", "nan_skips"))
        self.snapshot_nimg = self.nimg

    def _in_current_groups(self, saved: dict) -> dict:
        """opt_G's state laid out in the current parameter groups. Snapshots made before G's learning
        rates were grouped hold one group over G.parameters() in order; their Adam moments are moved to
        the same parameters in the groups, with the current groups' hyperparameters."""
        current = self.opt_G.state_dict()
        if len(saved["param_groups"]) == len(current["param_groups"]):
            return saved
        if len(saved["param_groups"]) != 1:
            raise ValueError(f"opt_G in the snapshot has {len(saved['param_groups'])} parameter groups; "
                             f"this trainer has {len(current['param_groups'])}")
        old_index = {id(p): k for k, p in enumerate(self.G.parameters())}
        in_group_order = [old_index[id(p)] for group in self.opt_G.param_groups for p in group["params"]]
        state = {new: saved["state"][old] for new, old in enumerate(in_group_order) if old in saved["state"]}
        return {"state": state, "param_groups": current["param_groups"]}

    # ---------------------------------------------------------------- steps
    def _draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        """z and regulariser noise for the global batch; this rank's slice."""
        b, r, per = self.cfg.batch, self.dist.rank, self.cfg.batch // self.dist.world_size
        z = torch.randn(b, self.G.cfg.backbone.z_dim, generator=self.gen)
        noise = self.loss.draw_reg_noise(b, self.gen)
        sl = slice(r * per, (r + 1) * per)
        return z[sl].to(self.device), noise[sl].to(self.device)

    def phase_loss(self, name: str, batch: dict, z: torch.Tensor,
                   noise: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One phase's loss with the other network frozen, under the configured autocast."""
        trains_g = name in G_PHASES
        self.G.requires_grad_(trains_g)
        self.D.requires_grad_(not trains_g)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            return (self.g_phases if trains_g else self.d_phases)(name, batch, z, noise)

    def _phase(self, name: str, batch: dict, z: torch.Tensor, noise: torch.Tensor,
               opt: torch.optim.Optimizer, params: list[torch.nn.Parameter]) -> dict[str, float]:
        self.opt_G.zero_grad(set_to_none=True)
        self.opt_D.zero_grad(set_to_none=True)
        loss, stats = self.phase_loss(name, batch, z, noise)
        loss.backward()
        grads = [p.grad for p in params if p.grad is not None]
        if grads and not torch.isfinite(torch.stack(torch._foreach_norm(grads, 1))).all():  # one check, not one per tensor
            self.nan_skips += 1
            return {}
        if self.cfg.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        opt.step()
        return {k: float(v.detach()) for k, v in stats.items()}

    def train_step(self, batch: dict) -> dict[str, float]:
        cfg, lc = self.cfg, self.cfg.loss
        batch = {k: v.to(self.device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        g_params, d_params = list(self.G.parameters()), list(self.D.parameters())
        z, noise = self._draw()
        torch.manual_seed(process_seed(cfg.seed, self.dist.rank, self.step))
        adversarial = self.nimg >= cfg.recon_warmup_kimg * 1000
        stats = self._phase("G_main" if adversarial else "G_recon", batch, z, noise, self.opt_G, g_params)
        if lc.density_reg > 0 and self.step % lc.density_reg_interval == 0:
            stats.update(self._phase("G_reg", batch, z, noise, self.opt_G, g_params))
        if adversarial:
            stats.update(self._phase("D_main", batch, z, noise, self.opt_D, d_params))
            if self.step % lc.r1_interval == 0:
                stats.update(self._phase("D_reg", batch, z, noise, self.opt_D, d_params))
        self._update_ema()
        self.nimg += cfg.batch
        self.step += 1
        return stats

    @torch.no_grad()
    def _update_ema(self) -> None:
        ema_nimg = self.cfg.ema_kimg * 1000
        if self.cfg.ema_rampup is not None:
            ema_nimg = min(ema_nimg, (self.nimg + self.cfg.batch) * self.cfg.ema_rampup)
        beta = 0.5 ** (self.cfg.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.copy_(p.detach().lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    # ---------------------------------------------------------------- loop
    def loader(self) -> torch.utils.data.DataLoader:
        sampler = GlobalBatchSampler(len(self.data), self.cfg.batch, self.dist.rank, self.dist.world_size,
                                     self.cfg.seed, start_batch=self.nimg // self.cfg.batch)
        return torch.utils.data.DataLoader(self.data, batch_size=self.cfg.batch // self.dist.world_size,
                                           sampler=sampler, num_workers=self.cfg.workers,
                                           pin_memory=self.device.type == "cuda", drop_last=True)

    def save_snapshot(self) -> Path:
        path = self.run_dir / snapshot_name(self.nimg, self.snapshot_nimg)
        atomic_save(self.state_dict(), path)
        self.snapshot_nimg = self.nimg
        return path

    def _drop_redone_metrics(self) -> None:
        """On resume: keep only the metrics.jsonl ticks up to the snapshot's step, since the ticks after
        it are run (and logged) again, and drop a line torn by a kill or a full disk mid-write. Rewritten
        atomically, so an interruption leaves the old file."""
        path = self.run_dir / "metrics.jsonl"
        if not path.is_file():
            return
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if (step := _logged_step(line)) is not None and step <= self.step]
        if kept != lines:
            write_text_atomic(path, "".join(kept))

    def run(self, resume_state: dict | None = None) -> None:
        cfg, main = self.cfg, self.dist.is_main
        total = int(cfg.kimg * 1000)
        batches = iter(self.loader()) if resume_state is None else None
        if resume_state is not None:
            self.load_state_dict(resume_state)
            rng = rng_state()
            batches = iter(self.loader())  # starting workers draws from the global RNG: restore it after
            set_rng_state(rng)
        elif cfg.resume_d:
            report = init_discriminator(self.D, Path(cfg.resume_d))
            if main:
                print(report)
        # the first batch reads the training files: a broken dataset fails here, before the run folder exists
        first = [next(batches)] if self.nimg < total else []
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if resume_state is not None:
                self._drop_redone_metrics()
                remove_temp_files(self.run_dir)
            record = {**asdict(cfg), "perceptual_loss": self.perceptual_desc}
            write_text_atomic(self.run_dir / "config.json", json.dumps(record, indent=2))
            print(f"perceptual loss: {self.perceptual_desc}")
        tick_nimg, tick_start, sums, ticks_done = self.nimg, time.time(), {}, 0
        bar = tqdm(total=total, initial=self.nimg, unit="img", disable=not main, dynamic_ncols=True)
        deadline = tick_start + cfg.minutes * 60 if cfg.minutes else None
        while self.nimg < total:
            stats = self.train_step(first.pop() if first else next(batches))
            bar.update(cfg.batch)
            for k, v in stats.items():
                sums.setdefault(k, []).append(v)
            out_of_time = deadline is not None and self._past(deadline)
            done = self.nimg >= total or out_of_time
            if done or self.nimg - tick_nimg >= cfg.tick_kimg * 1000:
                ticks_done += 1
                self._tick(sums, tick_nimg, tick_start, bar)
                if done or ticks_done % cfg.snap_ticks == 0:
                    self._snapshot()
                tick_nimg, tick_start, sums = self.nimg, time.time(), {}
            if out_of_time:
                if main:
                    bar.write(f"stopped after {cfg.minutes:g} minutes at kimg {self.nimg / 1000:.3f} (--minutes)")
                break
        bar.close()

    def _past(self, deadline: float) -> bool:
        """Whether the wall clock is past deadline; rank 0's clock decides for every rank, so all stop together."""
        past = torch.tensor([time.time() >= deadline], dtype=torch.int32, device=self.device)
        if self.dist.world_size > 1:
            torch.distributed.broadcast(past, 0)
        return bool(past.item())

    def _tick(self, sums: dict, tick_nimg: int, tick_start: float, bar: tqdm) -> None:
        if not self.dist.is_main:
            return
        seconds = time.time() - tick_start
        record = {"kimg": self.nimg / 1000, "step": self.step,
                  "sec_per_kimg": seconds / max((self.nimg - tick_nimg) / 1000, 1e-9), "nan_skips": self.nan_skips,
                  "peak_mem_gb": (torch.cuda.max_memory_allocated(self.device) / 2**30
                                  if self.device.type == "cuda" else None)}
        record.update({k: sum(v) / len(v) for k, v in sums.items()})
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        shown = " ".join(f"{k} {v:.4g}" for k, v in record.items() if isinstance(v, float) and k != "kimg")
        bar.write(f"tick kimg {record['kimg']:.3f} {shown}")

    def _snapshot(self) -> None:
        if self.dist.is_main:
            path = self.save_snapshot()
            grid = path.name.replace("network-snapshot-", "samples-").removesuffix(".pt") + ".png"
            save_sample_grid(self.G_ema, self.cfg, self.model_cfg, path.with_name(grid))


def train(cfg: TrainConfig, resume_state: dict | None = None) -> Trainer:
    """Train (or continue a loaded snapshot) and return the trainer; rank 0 writes into cfg.run_dir.

    A resumed run builds the networks of the snapshot's stored model config, not of the preset as it is
    now, so a snapshot keeps resuming after a preset's defaults change (e.g. the SR width)."""
    model = (dataclass_from_dict(ModelConfig, json.loads(resume_state["model_config"]))
             if resume_state is not None and "model_config" in resume_state else None)
    trainer = Trainer(cfg, model=model)
    trainer.run(resume_state)
    return trainer
