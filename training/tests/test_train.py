"""Training mechanics on a tiny synthetic cache: sandwich sizes, step decay, the probe loss falls, checkpoints restore
the exact state and resume deterministically, the ablation really trains without quantization noise,
the output-affine init matches the target's moments."""
import dataclasses
import os
import shutil
import tempfile
import unittest

import numpy as np
import torch

import _path  # noqa: F401
from slimtrain.cache import TargetCache
from slimtrain.data import student_input
from slimtrain.student import Student
from slimtrain.train import (TrainConfig, _lr_at, init_output_affine, load_checkpoint, loss_changes, output_loss,
                             sandwich_sizes, student_factor, train)


def tiny_cache(n=4, side=16, seed=0):
    """Views 3 x 16 x 16 and a 'tap' 24 x 4 x 4 that depends on the view, so there is something to learn."""
    g = torch.Generator().manual_seed(seed)
    views = (torch.rand(n, 3, side, side, generator=g) * 255).to(torch.uint8)
    pooled = torch.nn.functional.avg_pool2d(views.float() / 255, side // 4)
    mix = torch.randn(24, 3, generator=g)
    tap = torch.einsum("oc,nchw->nohw", mix, pooled) * 5 + 2
    return TargetCache(views, {"tap": tap.half()})


class SandwichTest(unittest.TestCase):
    def test_always_smallest_and_largest(self):
        rng = np.random.default_rng(0)
        seen = set()
        for _ in range(50):
            sizes = sandwich_sizes(4, 1, rng)
            self.assertEqual(sizes[0], 1)
            self.assertEqual(sizes[-1], 4)
            self.assertEqual(len(sizes), 3)
            seen.add(sizes[1])
        self.assertEqual(seen, {2, 3})
        self.assertEqual(sandwich_sizes(4, 5, rng), [1, 2, 3, 4])
        self.assertEqual(sandwich_sizes(2, 1, rng), [1, 2])

    def test_step_decay(self):
        cfg = TrainConfig(steps=100, lr=1.0, lr_decay=0.5, lr_phases=4, schedule="step")
        self.assertEqual([_lr_at(cfg, s) for s in (0, 24, 25, 50, 99)], [1.0, 1.0, 0.5, 0.25, 0.125])

    def test_factor(self):
        self.assertEqual(student_factor(512, 128), 2)
        with self.assertRaises(ValueError):
            student_factor(500, 128)


class TrainLoopTest(unittest.TestCase):
    def test_output_affine_init_matches_moments(self):
        cache = tiny_cache()
        st = Student()
        init_output_affine(st, cache)
        t = cache.targets["tap"].float()
        norm = st.reconstructor.stages[-1].project.norm
        torch.testing.assert_close(norm.bias.data, t.mean(dim=(0, 2, 3)))

    def test_loss_falls_and_resume_continues(self):
        cache = tiny_cache()
        torch.manual_seed(0)
        st = Student()
        cfg = TrainConfig(steps=12, batch=4, lr=3e-3, log_every=100, checkpoint_every=6, probe_views=4)
        with tempfile.TemporaryDirectory() as d:
            ckpt = os.path.join(d, "c.ckpt")
            r = train(st, None, cache, cfg, torch.device("cpu"), ckpt, log=lambda *a: None)
            self.assertEqual(r.steps, 12)
            for s in (1, 4):
                self.assertLess(r.probe_after[s], 0.9 * r.probe_before[s])
            self.assertEqual(sorted({h[1] for h in r.history}), [1, 2, 3, 4])
            # Resume: a fresh student picks up the checkpoint's weights and step, then runs to the new end.
            st2 = Student()
            cfg2 = TrainConfig(**{**cfg.__dict__, "steps": 14})
            r2 = train(st2, None, cache, cfg2, torch.device("cpu"), ckpt, resume=True, log=lambda *a: None)
            self.assertEqual(r2.steps, 14)
            self.assertEqual(len({h[0] for h in r2.history}), 14)
            self.assertLess(r2.probe_before[1], r.probe_before[1])  # started from trained weights

    def test_checkpoint_restores_the_exact_state(self):
        # A run checkpointed at its end, resumed with nothing left to do, measures exactly what the first run
        # measured last: the weights come back bit for bit, with the step and the loss history. Two resumed runs
        # from the same checkpoint then take the same steps.
        cache = tiny_cache()
        torch.manual_seed(0)
        cfg = TrainConfig(steps=4, batch=4, lr=3e-3, log_every=100, checkpoint_every=2, probe_views=4)
        quiet = {"log": lambda *a: None}
        with tempfile.TemporaryDirectory() as d:
            ckpt = os.path.join(d, "c.ckpt")
            r = train(Student(), None, cache, cfg, torch.device("cpu"), ckpt, **quiet)
            again = train(Student(), None, cache, cfg, torch.device("cpu"), ckpt, resume=True, **quiet)
            self.assertEqual(again.steps, 4)
            self.assertEqual(again.probe_before, r.probe_after)
            self.assertEqual(again.history, r.history)
            # Two copies of the step-4 checkpoint, each resumed to step 6, take the same two steps.
            shutil.copy(ckpt, ckpt + ".copy")
            longer = TrainConfig(**{**cfg.__dict__, "steps": 6, "checkpoint_every": 0})
            b1 = train(Student(), None, cache, longer, torch.device("cpu"), ckpt, resume=True, **quiet)
            b2 = train(Student(), None, cache, longer, torch.device("cpu"), ckpt + ".copy", resume=True, **quiet)
            self.assertEqual(b1.steps, 6)
            self.assertEqual(b1.probe_before, r.probe_after)  # both started from the trained weights
            self.assertEqual(b1.history, b2.history)
            self.assertEqual(b1.probe_after, b2.probe_after)
            self.assertEqual(b1.history[:len(r.history)], r.history)  # the first 4 steps are kept
            self.assertEqual(sorted({h[0] for h in b1.history}), [0, 1, 2, 3, 4, 5])

    def test_resume_with_a_new_loss_or_budget_warms_up_again(self):
        # Three resumes of a finished 4-step run (its rate decayed to lr_final): an interrupted run (the checkpoint
        # says the same budget) goes on as it was; a longer budget warms up again, keeping Adam's moments; a new
        # loss restarts Adam and warms up.
        cache, teacher = tiny_cache(), TinyTail()
        torch.manual_seed(0)
        cfg = TrainConfig(steps=4, batch=4, lr=1e-3, log_every=100, checkpoint_every=2, probe_views=4,
                          warmup_steps=4)
        with tempfile.TemporaryDirectory() as d:
            ckpt = os.path.join(d, "c.ckpt")
            train(Student(), teacher, cache, cfg, torch.device("cpu"), ckpt, log=lambda *a: None)
            same, new = (TrainConfig(**{**cfg.__dict__, "steps": 60, "checkpoint_every": 0, "output_weight": w})
                         for w in (0.0, 1.0))
            for c, case in ((same, "interrupted"), (same, "longer"), (new, "new loss")):
                path = _copy(ckpt)
                if case == "interrupted":
                    blob = load_checkpoint(path)
                    blob["config"]["steps"] = 6
                    torch.save(blob, path)
                lines = []
                train(Student(), teacher, cache, dataclasses.replace(c, steps=6), torch.device("cpu"), path,
                      resume=True, log=lines.append)
                said_loss = any("the loss changed since the checkpoint (output_weight 0.0 -> 1.0)" in l for l in lines)
                said_budget = any("the step budget changed since the checkpoint (4 -> 6)" in l for l in lines)
                self.assertEqual((said_loss, said_budget), (case == "new loss", case == "longer"), case)
                saved = load_checkpoint(path)
                self.assertEqual(saved["config"]["warmup_from"], 0 if case == "interrupted" else 4, case)
                # Fresh Adam moments count only the steps since the resume.
                self.assertEqual(int(next(iter(saved["opt"]["state"].values()))["step"]),
                                 2 if case == "new loss" else 6, case)
                lrs = [_lr_at(dataclasses.replace(c, warmup_from=saved["config"]["warmup_from"]), s) for s in (4, 5)]
                self.assertEqual(lrs[0] < c.lr, case != "interrupted", case)  # warming up again from the resume
        self.assertEqual(loss_changes({"output_weight": 1.0}, TrainConfig(output_weight=1.0, output_heat="mse")), [])
        self.assertEqual(loss_changes({"output_weight": 1.0}, TrainConfig(output_weight=1.0)),
                         ["output_heat mse -> kl"])

    def test_ablation_trains_without_quantization(self):
        # One cached view, so every batch is that view: the first step's training loss is then exactly the
        # unquantized probe loss when noise is off, and differs from it when the bottleneck gets quantization
        # noise. Training without noise still lowers the loss.
        cache = tiny_cache(n=1)
        quiet = {"log": lambda *a: None}
        for noise in (False, True):
            torch.manual_seed(0)
            cfg = TrainConfig(steps=8, batch=2, lr=3e-3, middle=2, noise=noise, log_every=100, train_bits=(1, 2, 3, 4),
                              checkpoint_every=0, probe_views=1)  # middle=2: every size at every step
            r = train(Student(), None, cache, cfg, torch.device("cpu"), None, **quiet)
            first = {s: loss for step, s, loss in r.history if step == 0}
            self.assertEqual(sorted(first), [1, 2, 3, 4])
            for s, loss in first.items():
                if noise:
                    self.assertGreater(abs(loss - r.probe_before[s]), 1e-4 * r.probe_before[s])
                else:
                    self.assertAlmostEqual(loss, r.probe_before[s], delta=1e-5 * r.probe_before[s])
            if not noise:
                for s in (1, 4):
                    self.assertLess(r.probe_after[s], 0.9 * r.probe_before[s])


class _HeadOnly:
    """A stand-in teacher for TargetCache.build: a fixed 24-channel head at a 16 x 16 input."""
    name, input_size = "head-only", (16, 16)

    def head(self, x):
        return torch.nn.functional.avg_pool2d(x, 4).repeat(1, 8, 1, 1)


class CacheKeyTest(unittest.TestCase):
    """A saved cache carries a key of what it was built from; a changed image, view count or seed gives another key
    (run --resume then builds the cache again instead of training on the old images' targets)."""

    def test_key_survives_save_and_changes_with_its_inputs(self):
        rng = np.random.default_rng(0)
        imgs = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(3)]
        teacher = _HeadOnly()
        cache = TargetCache.build(teacher, imgs, 2, 0, (), torch.device("cpu"), log=lambda *a: None)
        key = TargetCache.key_of(teacher, imgs, 2, 0, ())
        self.assertEqual(cache.key, key)
        with tempfile.TemporaryDirectory() as d:
            cache.save(os.path.join(d, "t.pt"))
            self.assertEqual(TargetCache.load(os.path.join(d, "t.pt"), torch.device("cpu")).key, key)
            torch.save({"views": cache.views, "targets": cache.targets}, os.path.join(d, "old.pt"))  # before keys
            self.assertEqual(TargetCache.load(os.path.join(d, "old.pt"), torch.device("cpu")).key, "")
        changed = [img.copy() for img in imgs]
        changed[1][5, 5, 0] ^= 1
        others = [TargetCache.key_of(teacher, changed, 2, 0, ()), TargetCache.key_of(teacher, imgs + imgs[:1], 2, 0, ()),
                  TargetCache.key_of(teacher, imgs, 3, 0, ()), TargetCache.key_of(teacher, imgs, 2, 1, ())]
        self.assertEqual(len(set(others + [key])), 5)


class TinyTail(torch.nn.Module):
    """A frozen stand-in for a detector tail: tap -> (class heatmaps NHWC in (0, 1), box sizes NHWC)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.register_buffer("kp", torch.randn(3, 24, generator=g) * 0.3)
        self.register_buffer("wh", torch.randn(4, 24, generator=g) * 0.3)

    def tail(self, tap, taps=()):
        x = tap.permute(0, 2, 3, 1)
        return {"keypoints": torch.sigmoid(x @ self.kp.t() - 2), "wh": x @ self.wh.t()}, {}


def _copy(ckpt):
    shutil.copy(ckpt, ckpt + ".copy")
    return ckpt + ".copy"


def outputs_loss(student, teacher, cache, heat="kl"):
    with torch.no_grad():
        target, _ = teacher.tail(cache.targets["tap"].float())
        mine, _ = teacher.tail(student(student_input(cache.views, 2), 4, None, "fp32"))
        return float(output_loss(mine, target, heat))


class OutputLossTest(unittest.TestCase):
    def test_zero_only_for_equal_outputs_and_boxes_count_where_objects_are(self):
        g = torch.Generator().manual_seed(0)
        kp = torch.rand(2, 5, 5, 3, generator=g)
        wh = torch.randn(2, 5, 5, 4, generator=g)
        t = {"keypoints": kp, "wh": wh}
        for heat in ("kl", "mse"):
            with self.subTest(heat=heat):
                self.assertEqual(float(output_loss(t, t, heat)), 0.0)
                self.assertGreater(float(output_loss({"keypoints": kp * 0.5, "wh": wh}, t, heat)), 0.0)
                empty = kp.clone()
                empty[:, 2:] = 0  # no object in the lower rows: box sizes there do not matter
                off = wh.clone()
                off[:, 2:] += 7
                same = {"keypoints": empty, "wh": wh}
                self.assertEqual(float(output_loss({"keypoints": empty, "wh": off}, same, heat)), 0.0)
                off[:, 0, 0] += 1
                self.assertGreater(float(output_loss({"keypoints": empty, "wh": off}, same, heat)), 0.0)
        with self.assertRaises(ValueError):
            output_loss(t, t, "l1")

    def test_kl_pulls_a_weak_object_as_hard_as_a_confident_one(self):
        # Two under-scored objects, each 0.28 below the teacher: a weak one (0.30 -> 0.02) and a confident one
        # (0.90 -> 0.62). Through the sigmoid, KL's gradient on each student logit is p_s - p_t (equal here); MSE's
        # carries p(1 - p) more, so it nearly ignores the weak one: the small classes' failure mode.
        teacher = torch.tensor([0.30, 0.90]).reshape(1, 1, 2, 1)
        student = torch.tensor([0.02, 0.62]).reshape(1, 1, 2, 1)
        wh = torch.zeros(1, 1, 2, 4)
        ratio = {}
        for heat in ("kl", "mse"):
            logits = torch.logit(student).requires_grad_()
            output_loss({"keypoints": torch.sigmoid(logits), "wh": wh}, {"keypoints": teacher, "wh": wh},
                        heat).backward()
            gw, gc = logits.grad.flatten().tolist()
            self.assertLess(gw, 0.0)  # both scores pulled up
            self.assertLess(gc, 0.0)
            ratio[heat] = gw / gc
        self.assertAlmostEqual(ratio["kl"], 1.0, delta=1e-4)
        self.assertLess(ratio["mse"], 0.1)

    def test_training_with_the_output_loss_lowers_it_more_than_the_tap_loss_alone(self):
        cache, teacher = tiny_cache(), TinyTail()
        for heat in ("kl", "mse"):
            after = {}
            for weight in (0.0, 1.0):
                torch.manual_seed(0)
                st = Student()
                init_output_affine(st, cache)
                before = outputs_loss(st, teacher, cache, heat)
                cfg = TrainConfig(steps=12, batch=4, lr=3e-3, log_every=100, checkpoint_every=0, probe_views=4,
                                  output_weight=weight, output_heat=heat)
                train(st, teacher, cache, cfg, torch.device("cpu"), None, log=lambda *a: None)
                st.eval()
                after[weight] = outputs_loss(st, teacher, cache, heat)
            with self.subTest(heat=heat):
                self.assertLess(after[1.0], 0.8 * before)
                self.assertLess(after[1.0], after[0.0])


if __name__ == "__main__":
    unittest.main()
