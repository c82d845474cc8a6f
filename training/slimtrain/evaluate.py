"""Accuracy of the student per (s, b) against the teacher's own predictions on held-out images.

There are no labels: the reference is what the teacher predicts on the full-resolution frame (detections with
score >= gt_threshold for a detector, the argmax class for a classifier). The student path is the deployed one:
frame -> half resolution -> s members -> quantizer at b bits (the library's, hard rounding) -> reconstructor ->
teacher tail -> the same decoding. Calibration rows run the teacher through the same code: on the frame itself
(the reference against itself: 100 for a detector unless scores tie) and on the frame after a round trip through
half resolution (what the lower input resolution alone costs).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .coco_map import major_classes, mean_average_precision
from .student import Student


def _detections(det: torch.Tensor) -> List[Dict[str, np.ndarray]]:
    d = det.float().cpu().numpy()
    return [{"boxes": x[:, :4], "scores": x[:, 4], "classes": x[:, 5].astype(np.int64)} for x in d]


def reference_boxes(det: torch.Tensor, threshold: float) -> List[Dict[str, np.ndarray]]:
    out = []
    for x in det.float().cpu().numpy():
        keep = x[:, 4] >= threshold
        out.append({"boxes": x[keep, :4], "classes": x[keep, 5].astype(np.int64)})
    return out


class Evaluator:
    def __init__(self, teacher, frames: torch.Tensor, batch: int = 8, gt_threshold: float = 0.3):
        """frames: N x 3 x H x W uint8 held-out frames at the teacher's input size, on the device."""
        self.teacher, self.frames, self.batch = teacher, frames, batch
        self.gt_threshold = gt_threshold
        self.detector = teacher.metric.startswith("mAP")
        with torch.no_grad():
            self.ref_taps = torch.cat([teacher.head(frames[sl].float()) for sl in self._batches()])
            self.reference = self._predict_from_taps(self.ref_taps)
        if self.detector:
            self.gt = reference_boxes(self.reference, gt_threshold)
            self.objects = int(sum(len(g["classes"]) for g in self.gt))
        else:
            self.gt = self.reference.argmax(dim=1)
            self.objects = len(self.gt)
        self.factor = frames.shape[-1] // (2 * self.ref_taps.shape[-1])

    def _batches(self):
        return data.iterate_batches(self.frames.shape[0], self.batch)

    def _predict_from_taps(self, taps: torch.Tensor) -> torch.Tensor:
        preds = []
        for sl in data.iterate_batches(taps.shape[0], self.batch):
            outputs, _ = self.teacher.tail(taps[sl])
            preds.append(self.teacher.predictions(outputs).float())
        return torch.cat(preds)

    def score(self, preds: torch.Tensor) -> Dict[str, float]:
        if self.detector:
            return mean_average_precision(self.gt, _detections(preds))
        agree = (preds.argmax(dim=1) == self.gt).float().mean()
        return {"map": 100.0 * float(agree)}

    def calibration(self) -> Dict[str, float]:
        with torch.no_grad():
            own = self.score(self.reference)["map"]
            h, w = self.frames.shape[-2:]
            taps = []
            for sl in self._batches():
                # The student's input resolution, resized the same way, then back up for the teacher.
                half = F.interpolate(self.frames[sl].float(), size=(h // self.factor, w // self.factor),
                                     mode="bilinear", align_corners=False)
                up = F.interpolate(half, size=(h, w), mode="bilinear", align_corners=False)
                taps.append(self.teacher.head(up))
            half = self.score(self._predict_from_taps(torch.cat(taps)))
        out = {"teacher_fp32": own, "teacher_half_resolution": half["map"]}
        if self.detector:
            out["teacher_half_resolution_major_map"] = half["major_map"]
            out["teacher_half_resolution_per_class"] = half["per_class"]
            out["objects_per_class"] = half["objects"]
        return out

    def predictions(self, student: Student, s: int, bits: Optional[int]) -> torch.Tensor:
        """The teacher tail's decoded predictions on the student's reconstruction, one row block per image."""
        student.use_wire()
        with torch.no_grad():
            taps = torch.cat([student(data.student_input(self.frames[sl], self.factor), s, bits,
                                      "hard" if bits else "fp32").float() for sl in self._batches()])
            return self._predict_from_taps(taps)

    def bootstrap(self, preds: torch.Tensor, resamples: int = 200, seed: int = 0,
                  baseline: Optional[torch.Tensor] = None) -> Dict[str, float]:
        """mAP and major_map over `resamples` draws of the held-out images with replacement: their spread says how
        much of a difference between two rows the choice of images alone explains. With `baseline` (another row's
        predictions), each draw also scores it on the same images: the paired difference (this row minus the
        baseline) and the share of draws where it is above zero. major_map keeps the full set's major classes in
        every draw (one a draw lacks is left out of its mean)."""
        rng = np.random.default_rng(seed)
        dets = _detections(preds)
        base = _detections(baseline) if baseline is not None else None
        major = major_classes(self.gt)
        n = len(dets)

        def scores(gt, d):
            r = mean_average_precision(gt, d, major_of=major)
            return r["map"], r["major_map"]

        draws, diffs = [], []
        for _ in range(resamples):
            idx = rng.integers(0, n, size=n)
            gt = [self.gt[i] for i in idx]
            draws.append(scores(gt, [dets[i] for i in idx]))
            if base is not None:
                b = scores(gt, [base[i] for i in idx])
                diffs.append((draws[-1][0] - b[0], draws[-1][1] - b[1]))
        draws = np.asarray(draws)
        out = {"map_std": float(np.nanstd(draws[:, 0])), "map_p05": float(np.nanpercentile(draws[:, 0], 5)),
               "map_p95": float(np.nanpercentile(draws[:, 0], 95)), "major_map_std": float(np.nanstd(draws[:, 1]))}
        if diffs:
            d = np.asarray(diffs)
            for k, col in (("map", 0), ("major_map", 1)):
                out[f"{k}_diff_p05"] = float(np.nanpercentile(d[:, col], 5))
                out[f"{k}_diff_p95"] = float(np.nanpercentile(d[:, col], 95))
                out[f"{k}_diff_above_zero"] = float(np.mean(d[:, col] > 0))
        return out

    def student(self, student: Student, s: int, bits: Optional[int]) -> Dict[str, float]:
        """Score and tap NMSE of one operating point (bits None: unquantized bottleneck)."""
        student.use_wire()
        taps = []
        with torch.no_grad():
            for sl in self._batches():
                x = data.student_input(self.frames[sl], self.factor)
                taps.append(student(x, s, bits, "hard" if bits else "fp32").float())
            taps = torch.cat(taps)
            nmse = float(((taps - self.ref_taps) ** 2).mean() / (self.ref_taps ** 2).mean())
            result = self.score(self._predict_from_taps(taps))
        result["tap_nmse"] = nmse
        return result

    def table(self, student: Student, sizes: Sequence[int], bits: Sequence[int], log=print) -> List[dict]:
        """Every s of sizes at every b of bits and at fp32."""
        return self.rows(student, [(s, b) for s in sizes for b in list(bits) + [None]], log)

    def rows(self, student: Student, points: Sequence[Tuple[int, Optional[int]]], log=print) -> List[dict]:
        """One row per (s, b) of points (b None: fp32), each logged as it is measured."""
        rows = []
        for s, b in points:
            r = self.student(student, s, b)
            rows.append({"s": s, "b": b, **r})
            major = f"  major_map {r['major_map']:.2f}" if "major_map" in r else ""
            log(f"  s={s} b={b or 'fp32'}: {self.teacher.metric} {r['map']:.2f}{major}  tap nmse {r['tap_nmse']:.4f}")
        return rows
