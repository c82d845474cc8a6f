"""Checks that the PyTorch reference follows docs/model.md and that the committed fixtures are up to date.

Run from the repository root: /usr/bin/python3 -m unittest discover -s python/tests -v
"""
import os
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import torch

kPython = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, kPython)
from slimcodec_ref import (Ensemble, Member, Reconstructor, SplitModel, count_parameters,  # noqa: E402
                           load_safetensors, preprocess, safetensors_bytes, save_safetensors)
from slimcodec_ref.model import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402


class ModelSpec(unittest.TestCase):
    def test_member_parameters(self):
        self.assertEqual(count_parameters(Member()), 6597)

    def test_state_dict_names_and_shapes(self):
        sd = SplitModel().state_dict()
        expect = {
            "encoder.members.0.stages.0.conv.weight": (6, 3, 3, 3),
            "encoder.members.0.stages.0.norm.bias": (6,),
            "encoder.members.2.stages.4.se.reduce.bias": (1,),
            "encoder.members.3.stages.3.expand.conv.weight": (24, 4, 3, 3),
            "encoder.members.3.stages.3.se.expand.weight": (24, 1, 1, 1),
            "encoder.members.3.stages.3.project.conv.weight": (6, 24, 1, 1),
            "reconstructor.stages.0.expand.conv.weight": (36, 6, 1, 1),
            "reconstructor.stages.1.se.reduce.weight": (12, 288, 1, 1),
            "reconstructor.stages.2.expand.conv.weight": (48, 288, 3, 3),  # ConvTranspose: [Cin, Ce, K, K]
            "reconstructor.stages.4.project.norm.weight": (24,),
        }
        for name, shape in expect.items():
            self.assertIn(name, sd)
            self.assertEqual(tuple(sd[name].shape), shape, name)
        # Only weights: no running statistics or other buffers.
        self.assertEqual(len(sd), sum(1 for _ in SplitModel().parameters()))
        self.assertEqual(len([k for k in sd if k.startswith("encoder.members.0.")]), 3 + 5 * 10)  # Conv2D: 3, FusedMBConv: 10 each

    def test_skips(self):
        self.assertEqual([getattr(l, "use_skip", None) for l in Member().stages],
                         [None, False, True, False, True, False])
        self.assertEqual([getattr(l, "use_skip", None) for l in Reconstructor().stages],
                         [False, True, None, True, False])

    def test_shapes(self):
        with torch.no_grad():
            self.assertEqual(tuple(Member()(torch.randn(1, 3, 384, 384)).shape), (1, 6, 96, 96))
            self.assertEqual(tuple(Reconstructor()(torch.randn(1, 6, 10, 14)).shape), (1, 24, 20, 28))

    def test_ensemble_weights(self):
        torch.manual_seed(0)
        enc = Ensemble(4).eval()
        x = torch.randn(1, 3, 32, 32)
        with torch.no_grad():
            outs = [m(x) for m in enc.members]
            for s in range(1, 5):
                manual = sum(outs[m] * (0.5 ** m) for m in range(s))
                self.assertLess(float((enc(x, s) - manual).abs().max()), 1e-6)
        with self.assertRaises(ValueError):
            enc(x, 0)


def bilinear_half_pixel(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """An independent oracle: src = (dst + 0.5) * in / out - 0.5, clamped at 0, neighbours clamped at the edge."""
    in_h, in_w = img.shape[:2]

    def taps(n_out, n_in):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0.0)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, ly = taps(out_h, in_h)
    x0, x1, lx = taps(out_w, in_w)
    f = img.astype(np.float64)
    top = f[y0][:, x0] * (1 - lx)[None, :, None] + f[y0][:, x1] * lx[None, :, None]
    bot = f[y1][:, x0] * (1 - lx)[None, :, None] + f[y1][:, x1] * lx[None, :, None]
    return top * (1 - ly)[:, None, None] + bot * ly[:, None, None]


class Preprocess(unittest.TestCase):
    def test_matches_half_pixel_formula(self):
        rng = np.random.RandomState(3)
        img = rng.randint(0, 256, size=(37, 53, 3)).astype(np.uint8)
        for h, w in ((24, 32), (50, 70), (37, 53), (5, 90)):
            want = bilinear_half_pixel(img, h, w) / 255.0
            want = (want - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
            got = preprocess(img, h, w, dtype=torch.float64).numpy().transpose(1, 2, 0)
            self.assertLess(np.abs(got - want).max(), 1e-9, (h, w))


class SafeTensors(unittest.TestCase):
    def test_round_trip_and_alignment(self):
        tensors = {"a": torch.arange(6, dtype=torch.float32).view(2, 3), "b.c": torch.tensor([1, 2, 3], dtype=torch.uint8),
                   "empty": torch.zeros(0, 4)}
        blob = safetensors_bytes(tensors, {"k": "v"})
        (n,) = struct.unpack_from("<Q", blob)
        self.assertEqual(n % 8, 0)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.safetensors")
            save_safetensors(path, tensors, {"k": "v"})
            back, meta = load_safetensors(path)
        self.assertEqual(meta, {"k": "v"})
        self.assertEqual(list(back), ["a", "b.c", "empty"])
        for k in tensors:
            self.assertTrue(torch.equal(back[k], tensors[k]), k)


class Fixtures(unittest.TestCase):
    def test_committed_fixtures_are_current(self):
        script = os.path.join(kPython, "make_fixtures.py")
        r = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
