"""Teacher targets computed once: a fixed set of augmented views per image and the teacher's tap features on them.

The teacher is frozen, so its tap (and later-tap) features for a view never change: computing them once turns
every training step into student work only. Views are stored as uint8 frames (the student input is derived on
the fly), targets as float16. Builds on the training device; save()/load() keep it between runs, with a key of
what it was built from (images, views, seed, taps, teacher), so a resumed run whose data changed rebuilds it.
"""
import hashlib
from typing import Dict, List, Sequence

import numpy as np
import torch

from . import data


class TargetCache:
    def __init__(self, views: torch.Tensor, targets: Dict[str, torch.Tensor], key: str = ""):
        self.views = views  # N x 3 x H x W uint8 (teacher input frames)
        self.targets = targets  # name -> N x C x h x w float16; "tap" is the main one
        self.key = key  # key() of what it was built from; "" for a cache saved before keys existed

    @staticmethod
    def key_of(teacher, images: Sequence[np.ndarray], views_per_image: int, seed: int,
               later_taps: Sequence[str]) -> str:
        h = hashlib.sha256(repr((teacher.name, tuple(teacher.input_size), views_per_image, seed,
                                 tuple(later_taps))).encode())
        for img in images:
            h.update(repr(img.shape).encode())
            h.update(np.ascontiguousarray(img).tobytes())
        return h.hexdigest()

    def __len__(self) -> int:
        return self.views.shape[0]

    @staticmethod
    def build(teacher, images: Sequence[np.ndarray], views_per_image: int, seed: int, later_taps: Sequence[str],
              device: torch.device, batch: int = 16, log=print) -> "TargetCache":
        rng = np.random.default_rng(seed)
        frames: List[torch.Tensor] = []
        for img in images:
            src = data.to_chw(img, device)
            frames.append(data.resize_view(src, teacher.input_size))  # the unaugmented view first
            for _ in range(views_per_image - 1):
                frames.append(data.random_view(src, teacher.input_size, rng))
        views = torch.stack(frames).to(device)
        targets: Dict[str, List[torch.Tensor]] = {"tap": [], **{t: [] for t in later_taps}}
        with torch.no_grad():
            for sl in data.iterate_batches(len(views), batch):
                tap = teacher.head(views[sl].float())
                targets["tap"].append(tap.half())
                if later_taps:
                    _, extra = teacher.tail(tap, later_taps)
                    for t in later_taps:
                        targets[t].append(extra[t].half())
        out = {k: torch.cat(v).contiguous() for k, v in targets.items()}
        mb = (views.numel() + sum(2 * t.numel() for t in out.values())) / 2 ** 20
        log(f"target cache: {len(views)} views of {len(images)} images, {mb:.0f} MiB on {device}")
        return TargetCache(views, out, TargetCache.key_of(teacher, images, views_per_image, seed, later_taps))

    def target_scale(self) -> Dict[str, float]:
        """Mean square of each target: the loss divides by it, so taps of different magnitude weigh alike."""
        return {k: float(v.float().pow(2).mean().clamp_min(1e-12)) for k, v in self.targets.items()}

    def save(self, path: str):
        torch.save({"views": self.views.cpu(), "targets": {k: v.cpu() for k, v in self.targets.items()},
                    "key": self.key}, path)

    @staticmethod
    def load(path: str, device: torch.device) -> "TargetCache":
        blob = torch.load(path, map_location="cpu", weights_only=False)  # written by save() above
        return TargetCache(blob["views"].to(device), {k: v.to(device) for k, v in blob["targets"].items()},
                           blob.get("key", ""))
