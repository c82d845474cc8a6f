"""COCO-style mAP on hand-computed cases (perfect, partial IoU, false positives, duplicates, class averaging)."""
import unittest

import numpy as np

import _path  # noqa: F401
from slimtrain.coco_map import box_iou, mean_average_precision


def gt(boxes, classes):
    return {"boxes": np.array(boxes, dtype=float).reshape(-1, 4), "classes": np.array(classes)}


def det(boxes, scores, classes):
    return {"boxes": np.array(boxes, dtype=float).reshape(-1, 4), "scores": np.array(scores, dtype=float),
            "classes": np.array(classes)}


class CocoMapTest(unittest.TestCase):
    def test_iou(self):
        iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]))
        np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0]], atol=1e-12)

    def test_perfect_is_100(self):
        g = [gt([[0, 0, 10, 10], [20, 20, 40, 50]], [1, 2])]
        d = [det([[0, 0, 10, 10], [20, 20, 40, 50]], [0.9, 0.5], [1, 2])]
        self.assertAlmostEqual(mean_average_precision(g, d)["map"], 100.0, places=9)

    def test_no_detections_is_0(self):
        r = mean_average_precision([gt([[0, 0, 10, 10]], [0])], [det([], [], [])])
        self.assertEqual(r["map"], 0.0)

    def test_partial_overlap_counts_per_threshold(self):
        # IoU 0.62: a match at thresholds 0.50, 0.55, 0.60 only -> AP = 3 / 10 of the thresholds.
        g = [gt([[0, 0, 10, 10]], [0])]
        d = [det([[0, 0, 10, 6.2]], [0.9], [0])]
        iou = box_iou(d[0]["boxes"], g[0]["boxes"])[0, 0]
        self.assertAlmostEqual(iou, 0.62, places=9)
        self.assertAlmostEqual(mean_average_precision(g, d)["map"], 30.0, places=9)

    def test_false_positive_first_halves_precision(self):
        g = [gt([[0, 0, 10, 10]], [0])]
        d = [det([[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])]
        self.assertAlmostEqual(mean_average_precision(g, d)["map"], 50.0, places=9)

    def test_duplicate_after_match_costs_nothing(self):
        g = [gt([[0, 0, 10, 10]], [0])]
        d = [det([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])]
        self.assertAlmostEqual(mean_average_precision(g, d)["map"], 100.0, places=9)

    def test_wrong_class_is_a_miss_and_classes_average(self):
        g = [gt([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1])]
        d = [det([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.9], [0, 2])]
        self.assertAlmostEqual(mean_average_precision(g, d)["map"], 50.0, places=9)

    def test_max_dets_per_image(self):
        g = [gt([[0, 0, 10, 10]], [0])]
        boxes = [[100 + i, 100, 110 + i, 110] for i in range(3)] + [[0, 0, 10, 10]]
        d = [det(boxes, [0.9, 0.8, 0.7, 0.6], [0, 0, 0, 0])]
        self.assertAlmostEqual(mean_average_precision(g, d, max_dets=3)["map"], 0.0, places=9)
        self.assertAlmostEqual(mean_average_precision(g, d, max_dets=4)["map"], 25.0, places=9)

    def test_images_pool_per_class(self):
        # Two images: the match in image 2 scores below the false positive in image 1.
        g = [gt([[0, 0, 10, 10]], [0]), gt([[0, 0, 10, 10]], [0])]
        d = [det([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8], [0, 0]), det([[0, 0, 10, 10]], [0.7], [0])]
        # Ranked: TP (r .5, p 1), FP (r .5, p .5), TP (r 1, p 2/3): 51 points at 1 and 50 at 2/3.
        self.assertAlmostEqual(mean_average_precision(g, d)["map"], 100 * (51 + 50 * 2 / 3) / 101, places=9)


if __name__ == "__main__":
    unittest.main()


class PairedBootstrapTest(unittest.TestCase):
    """Evaluator.bootstrap with a baseline: a row against itself differs by exactly 0 in every draw; a row that
    finds every object against one that misses a third of them is above it in every draw."""

    def test_paired_difference(self):
        import torch
        from slimtrain.evaluate import Evaluator
        ev = Evaluator.__new__(Evaluator)
        n = 30
        ev.gt = [gt([[10, 10, 50, 50], [60, 60, 90, 90]], [0, 1 if i % 3 else 0]) for i in range(n)]

        def preds(miss_every):
            rows = []
            for i in range(n):
                shift = 40.0 if miss_every and i % miss_every == 0 else 0.0
                rows.append([[10 + shift, 10, 50 + shift, 50, 0.9, 0], [60, 60, 90, 90, 0.8, 1 if i % 3 else 0]])
            return torch.tensor(rows)

        good, worse = preds(0), preds(3)
        same = ev.bootstrap(good, 40, baseline=good)
        self.assertEqual((same["major_map_diff_p05"], same["major_map_diff_p95"]), (0.0, 0.0))
        self.assertEqual(same["major_map_diff_above_zero"], 0.0)
        self.assertEqual(same["major_map_std"], 0.0)
        better = ev.bootstrap(good, 40, baseline=worse)
        self.assertGreater(better["major_map_diff_p05"], 0.0)
        self.assertEqual(better["major_map_diff_above_zero"], 1.0)
        self.assertGreater(ev.bootstrap(worse, 40)["major_map_std"], 0.0)
        self.assertNotIn("major_map_diff_p05", ev.bootstrap(worse, 40))
