"""Slimmable distillation: sandwich rule, a quantizer proxy at the bottleneck, Adam on a step schedule, resumable.

Each step draws a batch of cached views and trains the ensemble sizes {1, max} plus `middle` random sizes in
between (the sandwich rule), accumulating their gradients into one Adam step. The loss is the MSE between the
reconstructed tap and the teacher's, divided by the target's mean square, plus optionally the same at later taps
after running the frozen teacher tail, plus optionally `output_weight` x the output loss (`output_loss`): the tap
MSE weighs every feature alike, so small objects the teacher finds (a few tap pixels) barely move it, while
their heatmap peaks are what the detector reads. Each pass draws a bit width from `train_bits` (0: the clamped fp32
bottleneck) and passes the latent through the quantizer proxy (`Student.bottleneck`); the ablation trains with the
clamped fp32 bottleneck only.

The schedule is counted in steps, never in seconds, so a loaded machine changes how long a run takes, not what it
learns, and `--resume` continues the same curve: a linear warm-up, a constant learning rate, and a linear decay to
`lr_final` over the last `decay_fraction` of the steps ("linear"); "cosine" and "step" (halve at each of
`lr_phases`) remain for comparison. `time_budget` only stops a run early, as a safety net.

Crop distillation (`crop` > 0): for the first `crop_fraction` of the steps each step trains on `crop_batch`
aligned crops instead of whole views. The tap is a local function of the frame (stride 4) and the student is
convolutional, so a c x c crop of the student input at an offset that is a multiple of 4 maps onto the
c/2 x c/2 crop of the cached full-view tap. `margin` tap pixels along the crop's border are left out of the
loss: there the teacher had context the crop lacks (docs/training.md measures it: 3 tap pixels make the two
agree exactly). InstanceNorm and squeeze-excite pool over the whole crop, so the run ends on whole views.
"""
import contextlib
import dataclasses
import math
import os
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .cache import TargetCache
from .student import Student


@dataclasses.dataclass
class TrainConfig:
    steps: int = 1000
    batch: int = 16
    lr: float = 2e-3
    lr_decay: float = 0.5
    lr_phases: int = 4
    middle: int = 1  # random sizes between 1 and max per step
    noise: bool = True  # False: the ablation (clamped fp32 bottleneck only)
    proxy: str = "ste"  # quantizer proxy while training: "ste" (hard forward, straight-through) or "noise"
    train_bits: Tuple[int, ...] = (0, 1, 2, 3, 4)  # 0: the clamped fp32 bottleneck
    later_taps: Tuple[str, ...] = ()
    later_weight: float = 0.5
    output_weight: float = 0.0  # > 0: also distil the teacher's outputs (heatmaps, boxes) through its frozen tail
    output_heat: str = "kl"  # how output_loss compares the heatmaps: "kl" or "mse"
    time_budget: float = 0.0  # stop after this many seconds of training (a safety net; the schedule is by steps)
    amp: str = "none"  # "bf16": autocast on CUDA
    channels_last: bool = False
    seed: int = 0
    checkpoint_every: int = 200
    checkpoint_seconds: float = 240.0  # also checkpoint when this much training time passed since the last one
    log_every: int = 20
    probe_views: int = 16  # fixed views whose loss is measured before and after training
    schedule: str = "linear"  # "linear": warm-up, constant, linear decay; "cosine"; "step": halve per phase
    lr_final: float = 5e-5
    warmup_steps: int = 50  # at most a tenth of the steps
    warmup_from: int = 0  # the step the warm-up starts at: a resume whose loss changed warms up again from there
    decay_fraction: float = 0.15  # "linear": the share of the steps over which the rate falls to lr_final
    crop: int = 0  # student-input crop side for the crop phase (multiple of 4); 0 = whole views only
    crop_batch: int = 16
    crop_fraction: float = 0.0  # share of the steps trained on crops
    margin: int = 3  # tap pixels left out of the loss along each crop border
    curve_at: Tuple[float, ...] = ()  # fractions of the run at which `on_curve` is called (learning curve)


@dataclasses.dataclass
class TrainResult:
    steps: int
    seconds: float
    image_steps_per_s: float
    history: List[Tuple[int, int, float]]  # (step, s, loss)
    probe_before: Dict[int, float]  # tap loss per s on fixed views, unquantized, before training
    probe_after: Dict[int, float]
    curve: List[dict] = dataclasses.field(default_factory=list)  # on_curve results, in order
    crop_gap: List[dict] = dataclasses.field(default_factory=list)  # probe loss on whole views vs crops

    def mean_loss(self, first: bool, n: int) -> float:
        steps = sorted({h[0] for h in self.history})
        pick = set(steps[:n] if first else steps[-n:])
        vals = [h[2] for h in self.history if h[0] in pick]
        return float(np.mean(vals)) if vals else float("nan")


def student_factor(teacher_width: int, tap_width: int) -> int:
    """Teacher input / student input: the student sees 2 x the tap's size (encoder /4, reconstructor x2)."""
    if teacher_width % (2 * tap_width):
        raise ValueError(f"teacher input width {teacher_width} is not a multiple of 2 x tap width {tap_width}")
    return teacher_width // (2 * tap_width)


def sandwich_sizes(members: int, middle: int, rng: np.random.Generator) -> List[int]:
    """The sandwich rule: smallest and largest always, plus `middle` distinct random sizes in between."""
    inner = list(range(2, members))
    pick = sorted(rng.choice(inner, size=min(middle, len(inner)), replace=False).tolist()) if inner else []
    return sorted({1, members, *pick})


def init_output_affine(student: Student, cache: TargetCache):
    """Data-dependent init of the reconstructor's last InstanceNorm affine: per channel, the target's mean and
    its average spatial std. The block's output is instance-normalized, so this matches the tap's first two
    moments from step 0; starting from weight 1, bias 0 Adam would spend thousands of steps growing the scale
    (the CenterNet tap's RMS is about 13)."""
    t = cache.targets["tap"].float()
    norm = student.reconstructor.stages[-1].project.norm
    with torch.no_grad():
        norm.bias.copy_(t.mean(dim=(0, 2, 3)))
        norm.weight.copy_(t.std(dim=(2, 3)).mean(dim=0).clamp_min(1e-3))


def output_loss(student_out: Dict[str, torch.Tensor], teacher_out: Dict[str, torch.Tensor],
                heat: str = "kl") -> torch.Tensor:
    """Distance between the detector outputs of the student's reconstruction and of the teacher's own tap, both
    through the frozen tail, plus the box sizes' squared error weighted by the teacher's strongest class score at
    each pixel (boxes only matter where there is an object). The class heatmaps (sigmoid scores) are compared by
    `heat`:
    - "kl": the per-score Bernoulli KL(teacher || student), summed and divided by the teacher's score mass (about
      the object count, as CenterNet normalises its focal loss). Its gradient on a student logit is p_s - p_t, so an
      object the student scores 0.05 where the teacher says 0.3 pulls as hard as a missed confident one.
    - "mse": the scores' MSE over their mean square. Through the sigmoid its gradient fades as p(1 - p): a
      small-class object the student scores near 0 barely pulls (measured worse, docs/training.md)."""
    kp_s, kp_t = student_out["keypoints"].float(), teacher_out["keypoints"].float()
    if heat == "kl":
        eps = 1e-6
        p_s, p_t = kp_s.clamp(eps, 1 - eps), kp_t.clamp(eps, 1 - eps)
        kl = p_t * (p_t.log() - p_s.log()) + (1 - p_t) * ((1 - p_t).log() - (1 - p_s).log())
        heat_term = kl.sum() / kp_t.sum().clamp_min(1.0)
    elif heat == "mse":
        heat_term = F.mse_loss(kp_s, kp_t) / kp_t.pow(2).mean().clamp_min(1e-6)
    else:
        raise ValueError(f"unknown heatmap distance {heat!r} (kl or mse)")
    weight = kp_t.amax(dim=-1, keepdim=True)
    wh_s, wh_t = student_out["wh"].float(), teacher_out["wh"].float()
    box = (weight * (wh_s - wh_t).pow(2)).sum() / (weight * wh_t.pow(2)).sum().clamp_min(1e-6)
    return heat_term + box


def probe_loss(student: Student, cache: TargetCache, count: int, factor: int, batch: int) -> Dict[int, float]:
    """Tap loss (MSE / target mean square) per ensemble size on the first `count` cached views, fp32 bottleneck:
    a fixed yardstick, unlike the noisy per-batch training loss."""
    n = min(count, len(cache))
    scale = float(cache.targets["tap"][:n].float().pow(2).mean().clamp_min(1e-12))
    out = {}
    with torch.no_grad():
        for s in range(1, student.members + 1):
            total = 0.0
            for sl in data.iterate_batches(n, batch):
                y = student(data.student_input(cache.views[sl], factor), s, None, "fp32").float()
                total += float(F.mse_loss(y, cache.targets["tap"][sl].float(), reduction="sum"))
            out[s] = total / (n * cache.targets["tap"][0].numel()) / scale
    return out


class Progress:
    """One status line: rewritten in place on a terminal, printed every `every` steps otherwise."""

    def __init__(self, total: int, every: int, stream=sys.stderr, first: int = 0):
        self.total, self.every, self.stream, self.first = total, every, stream, first
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.start = time.monotonic()

    def update(self, step: int, lr: float, ema: Dict[int, float], img_per_s: float, budget_left: Optional[float]):
        if not self.tty and step % self.every and step != self.total:
            return
        done = step / max(1, self.total)
        rate = (step - self.first) / max(time.monotonic() - self.start, 1e-9)  # steps per second in this sitting
        eta = (self.total - step) / max(rate, 1e-9)
        if budget_left is not None:
            eta = min(eta, budget_left)
        bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
        losses = " ".join(f"s{s}={v:.4f}" for s, v in sorted(ema.items()))
        line = (f"[{bar}] {step}/{self.total} lr {lr:.1e} loss {losses} | {img_per_s:.1f} img/s "
                f"eta {int(eta) // 60}:{int(eta) % 60:02d}")
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")


def _progress(cfg: TrainConfig, step: int) -> float:
    return min(1.0, step / max(1, cfg.steps))


def _lr_at(cfg: TrainConfig, step: int) -> float:
    progress = _progress(cfg, step)
    if cfg.schedule == "linear":
        warmup = min(cfg.warmup_steps, cfg.steps // 10)  # short runs (the smoke one) skip the warm-up
        if cfg.warmup_from <= step < cfg.warmup_from + warmup:
            return cfg.lr * (0.1 + 0.9 * (step - cfg.warmup_from) / warmup)
        decay_start = 1.0 - cfg.decay_fraction
        if progress <= decay_start:
            return cfg.lr
        return cfg.lr + (cfg.lr_final - cfg.lr) * (progress - decay_start) / max(cfg.decay_fraction, 1e-9)
    if cfg.schedule == "cosine":
        return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * progress))
    phase = min(cfg.lr_phases - 1, int(progress * cfg.lr_phases))
    return cfg.lr * cfg.lr_decay ** phase


def aligned_crops(views: torch.Tensor, taps: torch.Tensor, crop: int, factor: int, rng: np.random.Generator):
    """Student-input crops (N x 3 x crop x crop) and the matching tap crops (N x C x crop/2 x crop/2).
    The student input of the whole view is cropped (the same preprocessing as a full frame), at offsets that are
    multiples of 4 student pixels: whole latent pixels, and whole tap pixels (the tap has half the student's
    resolution)."""
    x = data.student_input(views, factor)
    h, w = x.shape[-2:]
    if crop % 4 or crop > min(h, w):
        raise ValueError(f"crop {crop} must be a multiple of 4 and fit the {h}x{w} student input")
    xs, ts = [], []
    for i in range(x.shape[0]):
        y0 = 4 * int(rng.integers(0, (h - crop) // 4 + 1))
        x0 = 4 * int(rng.integers(0, (w - crop) // 4 + 1))
        xs.append(x[i, :, y0:y0 + crop, x0:x0 + crop])
        ts.append(taps[i, :, y0 // 2:(y0 + crop) // 2, x0 // 2:(x0 + crop) // 2])
    return torch.stack(xs), torch.stack(ts)


def _save(path: str, blob: dict):
    tmp = path + ".tmp"
    torch.save(blob, tmp)
    os.replace(tmp, path)


def loss_changes(saved: dict, cfg: TrainConfig) -> List[str]:
    """The loss settings that differ between a checkpoint's config and cfg (a key the checkpoint predates counts
    as its default then)."""
    defaults = TrainConfig()
    keys = ("output_weight", "output_heat", "later_taps", "later_weight", "noise", "proxy", "train_bits")
    ignore_heat = not saved.get("output_weight", 0.0) or not cfg.output_weight  # no output term on one side
    out = []
    for k in keys:
        if k == "output_heat" and ignore_heat:
            continue
        old = saved.get(k, "mse" if k == "output_heat" else getattr(defaults, k))  # mse came first
        new = getattr(cfg, k)
        if (tuple(old) if isinstance(old, (list, tuple)) else old) != new:
            out.append(f"{k} {old} -> {new}")
    return out


def load_checkpoint(path: str) -> dict:
    # Our own files (tensors, numbers, the optimizer state). torch 1.13's weights_only loader refuses floats and
    # torch >= 2.6 defaults to it, so ask for the full loader explicitly.
    return torch.load(path, map_location="cpu", weights_only=False)


def probe_crop_loss(student: Student, cache: TargetCache, cfg: TrainConfig, factor: int) -> Dict[int, float]:
    """probe_loss on fixed aligned crops of the probe views, inside the margin: set beside probe_loss on the
    same views whole, it measures what training on crops misses (InstanceNorm and squeeze-excite statistics)."""
    n = min(cfg.probe_views, len(cache))
    x, t = aligned_crops(cache.views[:n], cache.targets["tap"][:n].float(), cfg.crop, factor,
                         np.random.default_rng(12345))
    m = cfg.margin
    t = t[..., m:t.shape[-2] - m, m:t.shape[-1] - m]
    scale = float(cache.targets["tap"][:n].float().pow(2).mean().clamp_min(1e-12))
    with torch.no_grad():
        return {s: float(F.mse_loss(student(x, s, None, "fp32").float()[..., m:-m or None, m:-m or None], t)) / scale
                for s in range(1, student.members + 1)}


def train(student: Student, teacher, cache: TargetCache, cfg: TrainConfig, device: torch.device,
          checkpoint: Optional[str] = None, resume: bool = False, log=print, on_curve=None) -> TrainResult:
    """on_curve(step, student) -> dict is called at each of cfg.curve_at (the student in eval mode); its time is
    not counted against the time budget."""
    student.to(device).train()
    if cfg.channels_last:
        student.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(student.parameters(), lr=cfg.lr)
    start_step, elapsed0, history, curve, crop_gap = 0, 0.0, [], [], []
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    if not (resume and checkpoint and os.path.exists(checkpoint)):
        init_output_affine(student, cache)
    if resume and checkpoint and os.path.exists(checkpoint):
        blob = load_checkpoint(checkpoint)
        student.load_state_dict(blob["student"])
        start_step, elapsed0 = int(blob["step"]), float(blob["elapsed"])
        changed = loss_changes(blob.get("config", {}), cfg)
        if changed:
            # Adam's second moments hold the old loss's gradient scale: a new term several times larger would take
            # steps several times the learning rate until they catch up (measured: 100 such steps cost a third of
            # major_map). Fresh moments and a warm-up instead.
            cfg = dataclasses.replace(cfg, warmup_from=start_step)
            log(f"the loss changed since the checkpoint ({', '.join(changed)}): Adam restarts, warm-up from step "
                f"{start_step}")
        else:
            saved_steps = int(blob.get("config", {}).get("steps", cfg.steps))
            if saved_steps != cfg.steps and start_step > 0:
                # A longer budget than the checkpoint's: its rate had decayed to lr_final, and would jump back to
                # lr at once. Warm up to it again instead (the moments are kept: the loss is the same).
                cfg = dataclasses.replace(cfg, warmup_from=start_step)
                log(f"the step budget changed since the checkpoint ({saved_steps} -> {cfg.steps}): warm-up from "
                    f"step {start_step}")
            else:
                cfg = dataclasses.replace(cfg, warmup_from=int(blob.get("config", {}).get("warmup_from", 0)))
            opt.load_state_dict(blob["opt"])
        history = [tuple(h) for h in blob["history"].tolist()]
        curve = list(blob.get("curve", []))
        crop_gap = list(blob.get("crop_gap", []))
        rng = np.random.default_rng([cfg.seed, start_step])
        torch.manual_seed(cfg.seed + start_step)
        log(f"resumed {checkpoint} at step {start_step} ({elapsed0:.0f} s trained)")
    scale = cache.target_scale()
    later = tuple(cfg.later_taps)
    members = student.members
    factor = student_factor(cache.views.shape[-1], cache.targets["tap"].shape[-1])
    amp = cfg.amp == "bf16"
    probe_before = probe_loss(student, cache, cfg.probe_views, factor, cfg.batch)
    log("probe loss before: " + " ".join(f"s{k}={v:.4f}" for k, v in probe_before.items()))
    progress = Progress(cfg.steps, cfg.log_every, first=start_step)
    ema: Dict[int, float] = {}
    t0 = time.monotonic()
    step = start_step
    images_done = 0

    def checkpoint_now():
        if checkpoint:
            _save(checkpoint, {"student": student.state_dict(), "opt": opt.state_dict(), "step": step,
                               "elapsed": elapsed0 + time.monotonic() - t0, "config": dataclasses.asdict(cfg),
                               "history": torch.tensor(history, dtype=torch.float64).reshape(-1, 3),
                               "curve": curve, "crop_gap": crop_gap})

    def curve_point(fraction: float, train_seconds: Optional[float] = None):
        nonlocal t0
        c0 = time.monotonic()
        student.eval()
        if train_seconds is None:
            train_seconds = elapsed0 + c0 - t0
        point = {"fraction": fraction, "step": step, "train_seconds": round(train_seconds, 1),
                 "core_hours": round(train_seconds * torch.get_num_threads() / 3600, 3), **on_curve(step, student)}
        student.train()
        curve.append(point)
        t0 += time.monotonic() - c0  # evaluation time is not training time
        checkpoint_now()

    pending = sorted(f for f in cfg.curve_at if f < 1.0 and not any(p["fraction"] == f for p in curve))
    in_crops = cfg.crop > 0 and _progress(cfg, step) < cfg.crop_fraction
    last_checkpoint = time.monotonic()
    if in_crops:
        log(f"crop phase: {cfg.crop_batch} crops of {cfg.crop}x{cfg.crop} per step, margin {cfg.margin} tap px, "
            f"for {cfg.crop_fraction:.0%} of the run; then whole views, {cfg.batch} per step")
    while step < cfg.steps:
        elapsed = elapsed0 + time.monotonic() - t0
        if cfg.time_budget > 0 and elapsed >= cfg.time_budget:
            log(f"time budget of {cfg.time_budget:.0f} s reached at step {step}")
            break
        frac = _progress(cfg, step)
        if on_curve and pending and frac >= pending[0]:
            curve_point(pending.pop(0))
            log(f"learning curve at step {step}: {curve[-1]}")
        if in_crops and frac >= cfg.crop_fraction:
            in_crops = False
            g0 = time.monotonic()
            student.eval()
            gap = {"step": step, "whole_views": probe_loss(student, cache, cfg.probe_views, factor, cfg.batch),
                   "crops": probe_crop_loss(student, cache, cfg, factor)}
            student.train()
            crop_gap.append(gap)
            t0 += time.monotonic() - g0  # a measurement, not training time
            log(f"whole views from step {step} ({elapsed:.0f} s); probe loss on whole views "
                + " ".join(f"s{k}={v:.4f}" for k, v in gap["whole_views"].items()) + ", on crops (inside the margin) "
                + " ".join(f"s{k}={v:.4f}" for k, v in gap["crops"].items()))
        lr = _lr_at(cfg, step)
        for group in opt.param_groups:
            group["lr"] = lr
        if in_crops:
            idx = torch.from_numpy(rng.integers(0, len(cache), size=cfg.crop_batch)).to(device)
            x, target = aligned_crops(cache.views[idx], cache.targets["tap"][idx].float(), cfg.crop, factor, rng)
            m = cfg.margin
            inner = (slice(None), slice(None), slice(m, target.shape[-2] - m), slice(m, target.shape[-1] - m))
        else:
            idx = torch.from_numpy(rng.integers(0, len(cache), size=cfg.batch)).to(device)
            x = data.student_input(cache.views[idx], factor)
            target = cache.targets["tap"][idx].float()
            inner = (slice(None),)
        later_targets = {t: cache.targets[t][idx].float() for t in later} if not in_crops else {}
        if later and in_crops:
            raise ValueError("later taps are not supported in the crop phase")
        out_target = None
        if cfg.output_weight > 0 and not in_crops:  # the tail sees whole views only (no border context in crops)
            with torch.no_grad():
                out_target, _ = teacher.tail(target)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        sizes = sandwich_sizes(members, cfg.middle, rng)
        for s in sizes:
            bits = int(rng.choice(cfg.train_bits)) if cfg.noise else 0
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext():
                y = student(x, s, bits or None, cfg.proxy if bits else "fp32")
                loss = F.mse_loss(y.float()[inner], target[inner]) / scale["tap"]
                if later or out_target is not None:
                    outs, extra = teacher.tail(y, later)
                    if later:
                        loss = loss + cfg.later_weight * sum(
                            F.mse_loss(extra[t].float(), later_targets[t]) / scale[t] for t in later) / len(later)
                    if out_target is not None:
                        loss = loss + cfg.output_weight * output_loss(outs, out_target, cfg.output_heat)
            (loss / len(sizes)).backward()
            v = float(loss.detach())
            if not math.isfinite(v):
                raise FloatingPointError(f"loss is {v} at step {step}, s={s}")
            ema[s] = v if s not in ema else 0.9 * ema[s] + 0.1 * v
            history.append((step, s, v))
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        images_done += cfg.crop_batch if in_crops else cfg.batch
        run_s = time.monotonic() - t0
        left = cfg.time_budget - (elapsed0 + run_s) if cfg.time_budget > 0 else None
        progress.update(step, lr, ema, images_done / max(run_s, 1e-9), left)
        if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or \
                time.monotonic() - last_checkpoint >= cfg.checkpoint_seconds:
            checkpoint_now()
            last_checkpoint = time.monotonic()
    progress.close()
    checkpoint_now()
    seconds = time.monotonic() - t0
    student.eval()
    probe_after = probe_loss(student, cache, cfg.probe_views, factor, cfg.batch)
    log("probe loss after:  " + " ".join(f"s{k}={v:.4f}" for k, v in probe_after.items()))
    if on_curve and 1.0 in cfg.curve_at and not any(p["fraction"] == 1.0 and p["step"] == step for p in curve):
        curve_point(1.0, elapsed0 + seconds)
        log(f"learning curve at the end (step {step}): {curve[-1]}")
    return TrainResult(step, elapsed0 + seconds, images_done / max(seconds, 1e-9), history, probe_before,
                       probe_after, curve, crop_gap)
