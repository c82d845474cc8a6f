"""Quantizer semantics (the library's, bit for bit), noise proxy bounds, MAC count, save/load with C++ names."""
import math
import os
import tempfile
import unittest

import numpy as np
import torch

import _path  # noqa: F401
from slimtrain.export import load_student, save_student
from slimtrain.student import (Student, add_quant_noise, dequantize_codes, encoder_macs, ensemble_bound, quantize,
                               quantize_codes)


def reference_codes(x: np.ndarray, bits: int, bound: float) -> np.ndarray:
    """quant/ref.hpp in numpy float32: t = (x - lo) * inv; NaN -> 0; clamp [0, L]; round half to even."""
    lo, hi = np.float32(-bound), np.float32(bound)
    levels = np.float32((1 << bits) - 1)
    inv = levels / (hi - lo)
    t = (x.astype(np.float32) - lo) * inv
    t = np.where(np.isnan(t), np.float32(0), t)
    return np.rint(np.clip(t, np.float32(0), levels))


class QuantizerTest(unittest.TestCase):
    def test_bounds_follow_the_ensemble_rule(self):
        self.assertAlmostEqual(ensemble_bound(1), 3.0)
        self.assertAlmostEqual(ensemble_bound(2), 3.0 * math.sqrt(1.25))
        self.assertAlmostEqual(ensemble_bound(4), 3.0 * math.sqrt(1 + 1 / 4 + 1 / 16 + 1 / 64))
        self.assertAlmostEqual(ensemble_bound(3, k=2.0, member_sigma=0.5), 1.0 * math.sqrt(1 + 0.25 + 0.0625))

    def test_codes_match_the_library_reference(self):
        g = torch.Generator().manual_seed(1)
        x = torch.randn(20000, generator=g) * 3
        x[:4] = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0])
        for bits in (1, 2, 3, 4, 8):
            bound = ensemble_bound(2)
            got = quantize_codes(x, bits, bound).numpy()
            want = reference_codes(x.numpy(), bits, bound)
            np.testing.assert_array_equal(got, want)

    def test_round_half_to_even_on_exact_halves(self):
        # bound 1.5, 2 bits: step 1, lo -1.5; x = -1.0 -> t = 0.5 -> 0, x = 0.0 -> t = 1.5 -> 2.
        codes = quantize_codes(torch.tensor([-1.0, 0.0, 1.0]), 2, 1.5)
        self.assertEqual(codes.tolist(), [0.0, 2.0, 2.0])

    def test_hard_error_is_at_most_half_a_step_inside_the_bounds(self):
        x = torch.linspace(-2.9, 2.9, 5001)
        for bits in (1, 2, 3, 4):
            step = 2 * 3.0 / ((1 << bits) - 1)
            err = (quantize(x, bits, 3.0) - x).abs().max().item()
            self.assertLessEqual(err, step / 2 + 1e-6)
            levels = torch.unique(quantize(x, bits, 3.0))
            self.assertEqual(len(levels), 1 << bits)

    def test_dequantize_inverts_codes(self):
        q = torch.arange(16, dtype=torch.float32)
        x = dequantize_codes(q, 4, 3.0)
        self.assertAlmostEqual(x[0].item(), -3.0, places=6)
        self.assertAlmostEqual(x[-1].item(), 3.0, places=5)
        self.assertTrue(torch.equal(quantize_codes(x, 4, 3.0), q))

    def test_noise_proxy_stays_within_half_a_step_of_the_clamped_value(self):
        g = torch.Generator().manual_seed(2)
        x = torch.randn(50000, generator=g) * 4
        for bits in (1, 3):
            bound = 3.0
            step = 2 * bound / ((1 << bits) - 1)
            y = add_quant_noise(x, bits, bound, generator=g)
            d = y - x.clamp(-bound, bound)
            self.assertLessEqual(d.abs().max().item(), step / 2 + 1e-6)
            self.assertGreater(d.std().item(), 0.8 * step / math.sqrt(12))  # uniform noise of one step

    def test_noise_proxy_passes_gradients_inside_the_bounds(self):
        x = torch.tensor([0.5, 5.0], requires_grad=True)
        add_quant_noise(x, 2, 3.0).sum().backward()
        self.assertEqual(x.grad.tolist(), [1.0, 0.0])


class BottleneckTest(unittest.TestCase):
    def test_every_mode_clamps_to_the_same_bounds(self):
        # fp32 included: the reconstructor never sees a value outside [-B, B], in training or evaluation.
        st = Student()
        z = torch.linspace(-20, 20, 4001)
        for s in (1, 4):
            bound = st.bound(s)
            fp = st.bottleneck(z, s, None, "fp32")
            self.assertTrue(torch.equal(fp, z.clamp(-bound, bound)))
            for mode in ("hard", "ste", "noise"):
                y = st.bottleneck(z, s, 2, mode)
                self.assertLessEqual(y.abs().max().item(), bound * (1 + 1e-6) + 2 * bound / 3 / 2)

    def test_ste_is_the_hard_quantizer_forward_and_identity_backward_inside_the_bounds(self):
        st = Student()
        g = torch.Generator().manual_seed(3)
        z = (torch.randn(20000, generator=g) * 3).requires_grad_(True)
        for bits in (1, 2, 4):
            y = st.bottleneck(z, 4, bits, "ste")
            self.assertTrue(torch.equal(y.detach(), st.bottleneck(z.detach(), 4, bits, "hard")))
            z.grad = None
            y.sum().backward()
            inside = (z.detach().abs() < st.bound(4)).float()
            self.assertTrue(torch.equal(z.grad, inside))


class StudentTest(unittest.TestCase):
    def test_macs_match_the_cpp_spec(self):
        # layers/paper.hpp: Member::macs({3, 384, 384}) == 73,801,940 (convs plus the squeeze-excite FCs).
        self.assertEqual(encoder_macs(384, 384), 73_801_940)
        self.assertEqual(encoder_macs(384, 384, s=4), 4 * 73_801_940)

    def test_shapes_and_modes(self):
        st = Student().eval()
        x = torch.randn(2, 3, 32, 32)
        for mode, bits in (("fp32", None), ("noise", 2), ("ste", 2), ("hard", 1)):
            self.assertEqual(tuple(st(x, 3, bits, mode).shape), (2, 24, 16, 16))
        with self.assertRaises(ValueError):
            st(x, 5)

    def test_save_load_keeps_cpp_names_and_values(self):
        st = Student()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "w.safetensors")
            save_student(st, path, {"preset": "test"})
            back = load_student(path)
            from slimcodec_ref import load_safetensors
            tensors, meta = load_safetensors(path)
        self.assertTrue(all(k.startswith(("encoder.members.", "reconstructor.stages.")) for k in tensors))
        self.assertIn("encoder.members.3.stages.5.project.norm.bias", tensors)
        self.assertIn("reconstructor.stages.2.expand.conv.weight", tensors)
        self.assertEqual(meta["preset"], "test")
        self.assertEqual(meta["bound_rule"], "ensemble")
        for k, v in st.state_dict().items():
            self.assertTrue(torch.equal(v, back.state_dict()[k]), k)


if __name__ == "__main__":
    unittest.main()
