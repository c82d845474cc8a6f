"""The CenterNet teacher (skipped unless scripts/fetch-teacher has run): agreement with TensorFlow.js through the
stored digest, batched decoding = the graph's own post-processing, head + tail = the whole graph, other sizes."""
import os
import unittest

import numpy as np
import torch

import _path  # noqa: F401
from slimtrain import centernet, check_teacher, paths

kModel = os.path.join(paths.kTeacherDir, "centernet.json")
kSkip = not os.path.exists(kModel)


@unittest.skipIf(kSkip, f"{kModel} missing: run scripts/fetch-teacher")
class CenterNetTeacherTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from slimtrain.teacher import CenterNetTeacher
        cls.teacher = CenterNetTeacher().eval()
        cls.frames = check_teacher.reference_frames()

    def test_matches_tensorflow_js_digest(self):
        import json
        with open(check_teacher.kReferenceFile) as f:
            ref = json.load(f)["images"]
        for name, frame in self.frames:
            kp, _, det = check_teacher.run_torch(self.teacher, frame)
            r = check_teacher.compare_digest(ref[name], kp, det)
            with self.subTest(image=name):
                self.assertLess(r["heatmap_max_abs"], 1e-5)  # TFJS agreement measured at ~1e-6
                self.assertLess(r["heatmap_sum_rel"], 1e-5)
                self.assertTrue(r["classes_equal"])
                self.assertLess(r["box_max_abs"], 0.05)
                self.assertLess(r["score_max_abs"], 1e-5)

    def test_batched_decode_equals_graph_detections(self):
        from slimtrain.tfjs_graph import TfjsGraph
        graph = TfjsGraph(kModel)
        full = graph.function(["tower_0/images"], ["tower_0/keypoints", "tower_0/wh", "tower_0/detections"])
        x = torch.stack([torch.from_numpy(f).float() for _, f in self.frames[:2]])
        with torch.no_grad():
            per_image = [full(x[i:i + 1]) for i in range(2)]  # the graph decodes one image at a time
            dets = [out[2][0] for out in per_image]
            ours = centernet.decode_detections(torch.cat([out[0] for out in per_image]),
                                               torch.cat([out[1] for out in per_image]))
        for i in range(2):
            np.testing.assert_array_equal(ours[i, :, 5].numpy(), dets[i][:, 5].numpy())
            np.testing.assert_allclose(ours[i].numpy(), dets[i].numpy(), atol=1e-3)

    def test_head_and_tail_compose_to_the_graph(self):
        from slimtrain.tfjs_graph import TfjsGraph
        graph = TfjsGraph(kModel)
        full = graph.function(["tower_0/images"], ["tower_0/keypoints"])
        x = torch.from_numpy(self.frames[0][1]).float()[None]
        with torch.no_grad():
            (want,) = full(x)
            outputs, taps = self.teacher.tail(self.teacher.head(x.permute(0, 3, 1, 2)), self.teacher.later_taps)
        torch.testing.assert_close(outputs["keypoints"], want)
        self.assertEqual(self.teacher.tap_shape(), (24, 128, 128))
        self.assertEqual(tuple(taps["expanded_conv_5/add"].shape), (1, 32, 64, 64))

    def test_other_input_sizes_run(self):
        x = torch.rand(2, 3, 128, 128) * 255
        with torch.no_grad():
            tap = self.teacher.head(x)
            outputs, _ = self.teacher.tail(tap)
        self.assertEqual(tuple(tap.shape), (2, 24, 32, 32))
        self.assertEqual(tuple(outputs["keypoints"].shape), (2, 32, 32, 80))
        self.assertEqual(tuple(self.teacher.predictions(outputs).shape), (2, 100, 6))

    def test_exported_tail_matches_eager(self):
        tail = self.teacher.export_tail()
        tap = torch.randn(1, 24, 32, 32)
        with torch.no_grad():
            traced = torch.jit.trace(tail, tap, check_trace=False)
            out = tail(tap)
        self.assertEqual(tuple(out.shape), (1, 84, 32, 32))
        torch.testing.assert_close(traced(tap), out)


if __name__ == "__main__":
    unittest.main()
