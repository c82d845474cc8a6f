"""Crop distillation: aligned crops of the student input and of the tap cover the same pixels, the crop phase
then the whole-view phase both train, the cosine schedule ends at lr_final, and the probe on crops stays inside
the margin."""
import unittest

import numpy as np
import torch

import _path  # noqa: F401
from slimtrain import data
from slimtrain.cache import TargetCache
from slimtrain.student import Student
from slimtrain.train import TrainConfig, _lr_at, aligned_crops, probe_crop_loss, train


def ramp_views(n=3, side=64):
    """Teacher frames whose value is the row index (rows) or column index (cols), and taps (stride 4) whose
    value is the tap row / column: a crop's position can be read back from its values."""
    i = torch.arange(side, dtype=torch.uint8)
    views = torch.zeros(n, 3, side, side, dtype=torch.uint8)
    views[:, 0] = i.view(side, 1)  # channel 0: row
    views[:, 1] = i.view(1, side)  # channel 1: column
    t = torch.arange(side // 4, dtype=torch.float32)
    taps = torch.zeros(n, 24, side // 4, side // 4)
    taps[:, 0] = t.view(-1, 1)
    taps[:, 1] = t.view(1, -1)
    return views, taps


def raw(x, c):
    """Undo the ImageNet normalisation of channel c (0..255 scale)."""
    return (x * data.kImageNetStd[c] + data.kImageNetMean[c]) * 255.0


class AlignedCrops(unittest.TestCase):
    def test_student_and_tap_crops_cover_the_same_pixels(self):
        views, taps = ramp_views()
        rng = np.random.default_rng(3)
        for _ in range(20):
            x, t = aligned_crops(views, taps, 12, 2, rng)
            self.assertEqual(tuple(x.shape), (3, 3, 12, 12))
            self.assertEqual(tuple(t.shape), (3, 24, 6, 6))
            for k in range(3):
                # Student pixel r of the half-resolution input averages teacher rows 2r and 2r + 1: value 2r + 0.5.
                row0 = (float(raw(x[k, 0, 0, 0], 0)) - 0.5) / 2
                col0 = (float(raw(x[k, 1, 0, 0], 1)) - 0.5) / 2
                self.assertAlmostEqual(row0, round(row0), places=3)
                self.assertEqual(round(row0) % 4, 0)  # offsets are whole latent pixels
                self.assertAlmostEqual(float(t[k, 0, 0, 0]), row0 / 2, places=3)  # tap = half the student
                self.assertAlmostEqual(float(t[k, 1, 0, 0]), col0 / 2, places=3)

    def test_bad_crop_sizes_are_refused(self):
        views, taps = ramp_views()
        for crop in (10, 40):
            with self.assertRaises(ValueError):
                aligned_crops(views, taps, crop, 2, np.random.default_rng(0))


class CropThenWholeViews(unittest.TestCase):
    def test_both_phases_train_and_the_gap_is_measured(self):
        torch.manual_seed(0)
        g = torch.Generator().manual_seed(1)
        views = (torch.rand(4, 3, 64, 64, generator=g) * 255).to(torch.uint8)
        x = data.student_input(views, 2)
        taps = torch.nn.functional.avg_pool2d(x, 2).repeat(1, 8, 1, 1) * 3  # 24 x 16 x 16, a function of the view
        cache = TargetCache(views, {"tap": taps.half()})
        cfg = TrainConfig(steps=8, batch=2, lr=3e-3, crop=16, crop_batch=4, crop_fraction=0.5, margin=1,
                          schedule="cosine", probe_views=4, log_every=100, checkpoint_every=0)
        logs = []
        r = train(Student(), None, cache, cfg, torch.device("cpu"), log=logs.append)
        self.assertEqual(r.steps, 8)
        self.assertEqual(len(r.crop_gap), 1)
        self.assertEqual(r.crop_gap[0]["step"], 4)
        self.assertTrue(any("whole views from step 4" in line for line in logs))
        for s in range(1, 5):
            self.assertLess(r.probe_after[s], r.probe_before[s])
            self.assertTrue(np.isfinite(r.crop_gap[0]["crops"][s]))

    def test_probe_on_crops_ignores_the_border(self):
        views, taps = ramp_views(n=2)
        taps = taps + 1.0
        cache = TargetCache(views, {"tap": taps.half()})
        cfg = TrainConfig(crop=32, margin=2, probe_views=2)  # the whole 32x32 student input: offset 0
        student = Student().eval()
        base = probe_crop_loss(student, cache, cfg, 2)
        border = torch.ones(16, 16, dtype=torch.bool)
        border[2:14, 2:14] = False
        flipped = cache.targets["tap"].clone()
        flipped[..., border] *= -1  # same mean square (the loss's scale), different values on the border only
        cache.targets["tap"] = flipped
        self.assertEqual(base, probe_crop_loss(student, cache, cfg, 2))
        flipped[..., 5, 5] *= -1  # inside the margin: the probe sees it
        self.assertNotEqual(base, probe_crop_loss(student, cache, cfg, 2))


class CosineSchedule(unittest.TestCase):
    def test_starts_at_lr_and_ends_at_lr_final(self):
        cfg = TrainConfig(steps=100, lr=2e-3, lr_final=5e-5, schedule="cosine")
        self.assertAlmostEqual(_lr_at(cfg, 0), 2e-3)
        self.assertAlmostEqual(_lr_at(cfg, 50), (2e-3 + 5e-5) / 2)
        self.assertAlmostEqual(_lr_at(cfg, 100), 5e-5)


class LinearSchedule(unittest.TestCase):
    def test_warmup_constant_then_linear_decay_by_steps(self):
        cfg = TrainConfig(steps=1000, lr=2e-3, lr_final=5e-5, schedule="linear", warmup_steps=50, decay_fraction=0.15)
        self.assertAlmostEqual(_lr_at(cfg, 0), 2e-4)
        self.assertAlmostEqual(_lr_at(cfg, 25), 2e-3 * (0.1 + 0.9 * 0.5))
        for step in (50, 400, 850):
            self.assertAlmostEqual(_lr_at(cfg, step), 2e-3)
        self.assertAlmostEqual(_lr_at(cfg, 925), (2e-3 + 5e-5) / 2)
        self.assertAlmostEqual(_lr_at(cfg, 1000), 5e-5)
        rates = [_lr_at(cfg, s) for s in range(850, 1001)]
        self.assertTrue(all(a >= b for a, b in zip(rates, rates[1:])))

    def test_the_clock_never_changes_the_rate(self):
        # A time budget only stops the run; the rate at a step is the same however long the steps took.
        timed = TrainConfig(steps=1000, lr=2e-3, schedule="linear", time_budget=1.0)
        self.assertEqual(_lr_at(timed, 500), _lr_at(TrainConfig(steps=1000, lr=2e-3, schedule="linear"), 500))


if __name__ == "__main__":
    unittest.main()
