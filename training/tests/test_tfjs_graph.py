"""The TFJS graph executor on a small synthetic graph: TF SAME padding, filter layouts, fused ops, float16 weights,
legacy bilinear resize, reductions, cuts; each checked against a plain numpy implementation of TF's semantics."""
import json
import os
import tempfile
import unittest

import numpy as np
import torch

import _path  # noqa: F401
from slimtrain.tfjs_graph import GraphError, TfjsGraph, resize_bilinear_nhwc, same_pads


def _s(v: str) -> dict:
    import base64
    return {"s": base64.b64encode(v.encode()).decode()}


def _ints(*v) -> dict:
    return {"list": {"i": [str(i) for i in v]}}


def _strs(*v) -> dict:
    import base64
    return {"list": {"s": [base64.b64encode(x.encode()).decode() for x in v]}}


def np_conv_same(x, w, stride, depthwise=False):
    """NHWC x (1 image), HWIO (or HWCM depthwise) w, TF SAME padding."""
    h, wd, c = x.shape
    kh, kw = w.shape[:2]
    (t, b), (l, r) = same_pads(h, kh, stride), same_pads(wd, kw, stride)
    xp = np.pad(x, ((t, b), (l, r), (0, 0)))
    oh, ow = -(-h // stride), -(-wd // stride)
    co = w.shape[2] * w.shape[3] if depthwise else w.shape[3]
    out = np.zeros((oh, ow, co))
    for i in range(oh):
        for j in range(ow):
            patch = xp[i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            if depthwise:
                out[i, j] = np.einsum("hwc,hwcm->cm", patch, w).reshape(-1)
            else:
                out[i, j] = np.einsum("hwc,hwco->o", patch, w)
    return out


def np_resize_legacy(x, oh, ow):
    h, w, _ = x.shape
    out = np.zeros((oh, ow, x.shape[2]))
    for i in range(oh):
        sy = i * h / oh
        y0, fy = int(np.floor(sy)), sy - np.floor(sy)
        y1 = min(y0 + 1, h - 1)
        for j in range(ow):
            sx = j * w / ow
            x0, fx = int(np.floor(sx)), sx - np.floor(sx)
            x1 = min(x0 + 1, w - 1)
            top = x[y0, x0] + (x[y0, x1] - x[y0, x0]) * fx
            bot = x[y1, x0] + (x[y1, x1] - x[y1, x0]) * fx
            out[i, j] = top + (bot - top) * fy
    return out


class SamePaddingTest(unittest.TestCase):
    def test_tensorflow_same_rule(self):
        self.assertEqual(same_pads(512, 3, 2), (0, 1))  # even input, stride 2: the extra row goes after
        self.assertEqual(same_pads(7, 3, 2), (1, 1))
        self.assertEqual(same_pads(8, 3, 1), (1, 1))
        self.assertEqual(same_pads(8, 5, 2), (1, 2))
        self.assertEqual(same_pads(8, 1, 2), (0, 0))
        self.assertEqual(same_pads(9, 3, 1, dilation=2), (2, 2))

    def test_legacy_resize_matches_tf_formula(self):
        x = np.random.default_rng(0).normal(size=(5, 7, 3))
        got = resize_bilinear_nhwc(torch.from_numpy(x)[None], (10, 13), False, False)[0].numpy()
        np.testing.assert_allclose(got, np_resize_legacy(x, 10, 13), atol=1e-12)

    def test_half_pixel_resize_matches_torch(self):
        x = torch.randn(1, 6, 4, 2, dtype=torch.float64)
        got = resize_bilinear_nhwc(x, (12, 8), False, True)
        want = torch.nn.functional.interpolate(x.permute(0, 3, 1, 2), size=(12, 8), mode="bilinear",
                                               align_corners=False).permute(0, 2, 3, 1)
        torch.testing.assert_close(got, want)


class SyntheticGraphTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(3)
        cls.w1 = rng.normal(size=(3, 3, 3, 4)).astype(np.float16)
        cls.b1 = rng.normal(size=(4,)).astype(np.float16)
        cls.dw = rng.normal(size=(3, 3, 4, 2)).astype(np.float16)
        cls.db = rng.normal(size=(8,)).astype(np.float16)
        weights = [("w1", cls.w1), ("b1", cls.b1), ("dw", cls.dw), ("db", cls.db),
                   ("axes", np.array([1, 2], np.int32)), ("size", np.array([8, 10], np.int32)),
                   ("ax", np.array(3, np.int32))]
        nodes = [{"name": "in", "op": "Placeholder", "attr": {}}]
        nodes += [{"name": n, "op": "Const", "attr": {}} for n, _ in weights]
        conv = {"strides": _ints(1, 2, 2, 1), "padding": _s("SAME"), "data_format": _s("NHWC"),
                "dilations": _ints(1, 1, 1, 1)}
        nodes += [
            {"name": "c1", "op": "_FusedConv2D", "input": ["in", "w1", "b1"],
             "attr": {**conv, "fused_ops": _strs("BiasAdd", "Relu6"), "num_args": {"i": "1"}}},
            {"name": "d1", "op": "FusedDepthwiseConv2dNative", "input": ["c1", "dw", "db", "^c1"],
             "attr": {**conv, "strides": _ints(1, 1, 1, 1), "fused_ops": _strs("BiasAdd"), "num_args": {"i": "1"}}},
            {"name": "m", "op": "Mean", "input": ["d1", "axes"], "attr": {"keep_dims": {"b": True}}},
            {"name": "g", "op": "Mul", "input": ["d1", "m"]},
            {"name": "r", "op": "ResizeBilinear", "input": ["g", "size"],
             "attr": {"align_corners": {"b": False}, "half_pixel_centers": {"b": False}}},
            {"name": "cat", "op": "ConcatV2", "input": ["r", "r:0", "ax"]},
            {"name": "out", "op": "Identity", "input": ["cat"]},
        ]
        manifest = [{"paths": ["w.bin"], "weights": [
            {"name": n, "shape": list(v.shape), "dtype": "int32" if v.dtype == np.int32 else "float32",
             **({"quantization": {"dtype": "float16", "original_dtype": "float32"}} if v.dtype == np.float16 else {})}
            for n, v in weights]}]
        cls.dir = tempfile.TemporaryDirectory()
        with open(os.path.join(cls.dir.name, "w.bin"), "wb") as f:
            for _, v in weights:
                f.write(v.tobytes())
        cls.model = os.path.join(cls.dir.name, "model.json")
        with open(cls.model, "w") as f:
            json.dump({"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": manifest}, f)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def expected(self, x):
        c1 = np.clip(np_conv_same(x, self.w1.astype(np.float64), 2) + self.b1, 0, 6)
        d1 = np_conv_same(c1, self.dw.astype(np.float64), 1, depthwise=True) + self.db
        g = d1 * d1.mean(axis=(0, 1), keepdims=True)
        r = np_resize_legacy(g, 8, 10)
        return np.concatenate([r, r], axis=-1), c1

    def test_whole_graph_matches_numpy(self):
        g = TfjsGraph(self.model)
        x = np.random.default_rng(4).normal(size=(7, 9, 3))
        out, c1 = g.function(["in"], ["out", "c1"])(torch.from_numpy(x)[None].float())
        want, want_c1 = self.expected(x)
        self.assertEqual(tuple(c1.shape), (1, 4, 5, 4))
        np.testing.assert_allclose(c1[0].numpy(), want_c1, atol=2e-5)
        np.testing.assert_allclose(out[0].numpy(), want, atol=1e-4)

    def test_cut_head_and_tail_compose(self):
        g = TfjsGraph(self.model)
        x = torch.randn(2, 7, 9, 3)
        (full,) = g.function(["in"], ["out"])(x)
        (tap,) = g.function(["in"], ["c1"])(x)
        (tail,) = g.function(["c1"], ["out"])(tap)
        torch.testing.assert_close(tail, full)

    def test_cut_that_leaks_is_refused(self):
        g = TfjsGraph(self.model)
        with self.assertRaises(GraphError):
            g.function(["d1"], ["c1"])  # c1 needs `in`, which the cut does not provide

    def test_suffix_resolution(self):
        g = TfjsGraph(self.model)
        self.assertEqual(g.resolve("c1"), "c1")
        with self.assertRaises(GraphError):
            g.resolve("nothing")

    def test_relative_resize_after_calibration(self):
        g = TfjsGraph(self.model)
        f = g.function(["in"], ["out"])
        f.calibrate_resizes(torch.zeros(1, 7, 9, 3))  # r: 4x5 -> 8x10, a 2x factor
        (out,) = f(torch.zeros(1, 14, 18, 3))
        self.assertEqual(tuple(out.shape), (1, 14, 18, 16))

    def test_truncated_weights_are_an_error(self):
        with open(os.path.join(self.dir.name, "w.bin"), "rb") as f:
            blob = f.read()
        bad = tempfile.TemporaryDirectory()
        try:
            with open(self.model) as f:
                spec = json.load(f)
            with open(os.path.join(bad.name, "model.json"), "w") as f:
                json.dump(spec, f)
            with open(os.path.join(bad.name, "w.bin"), "wb") as f:
                f.write(blob[:-6])
            with self.assertRaises(Exception):
                TfjsGraph(os.path.join(bad.name, "model.json"))
        finally:
            bad.cleanup()


if __name__ == "__main__":
    unittest.main()
