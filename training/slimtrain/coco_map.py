"""COCO-style mean average precision (mAP@[.5:.95], area "all", maxDets 100), as pycocotools computes it.

Per class: detections of each image, best score first and at most max_dets, are greedily matched to the unmatched
ground-truth box of highest IoU >= t; precision is made monotone and read at 101 recall points; AP is averaged
over the 10 IoU thresholds and over the classes that have ground truth. No crowd or area ranges: the reference
boxes here are a teacher's detections.

Averaging classes equally lets a class with one reference box weigh as much as one with hundreds, so the result
also gives each class's AP and object count, and `major_map`: the mean over the classes with at least
`kMajorObjects` reference objects.
"""
from collections import Counter
from typing import Dict, List, Optional, Sequence

import numpy as np

kIouThresholds = np.linspace(0.5, 0.95, 10)
kRecallPoints = np.linspace(0.0, 1.0, 101)
kMajorObjects = 10


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of xyxy boxes a [A, 4] and b [B, 4]."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _match(iou: np.ndarray, t: float) -> np.ndarray:
    """pycocotools' greedy matching for one image and class: dets (rows) in score order."""
    matched_gt = np.zeros(iou.shape[1], dtype=bool)
    tp = np.zeros(iou.shape[0], dtype=bool)
    for d in range(iou.shape[0]):
        best, m = min(t, 1 - 1e-10), -1
        for g in range(iou.shape[1]):
            if matched_gt[g] or iou[d, g] < best:
                continue
            best, m = iou[d, g], g
        if m >= 0:
            matched_gt[m] = True
            tp[d] = True
    return tp


def major_classes(gt: Sequence[Dict[str, np.ndarray]]) -> List[int]:
    """The classes with at least kMajorObjects reference objects in gt: the ones major_map averages."""
    counts = Counter(int(c) for g in gt for c in g["classes"])
    return sorted(c for c, n in counts.items() if n >= kMajorObjects)


def mean_average_precision(gt: Sequence[Dict[str, np.ndarray]], det: Sequence[Dict[str, np.ndarray]],
                           max_dets: int = 100, major_of: Optional[Sequence[int]] = None) -> Dict[str, float]:
    """gt[i]: {'boxes' [G,4], 'classes' [G]}; det[i]: {'boxes' [D,4], 'scores' [D], 'classes' [D]}, one per image.
    Returns {'map', 'ap50', 'ap75', 'classes', 'major_map', 'per_class', 'objects'} with AP in 0..100 (NaN when no
    class has ground truth); per_class and objects are keyed by class id. major_of: the classes major_map
    averages (default: major_classes(gt); a listed class without objects in gt is left out), so a resample of the
    images can keep the full set's."""
    if len(gt) != len(det):
        raise ValueError("gt and det must list the same images")
    classes = sorted({int(c) for g in gt for c in g["classes"]})
    counts = {c: int(sum(int(np.sum(np.asarray(g["classes"]) == c)) for g in gt)) for c in classes}
    ap = np.full((len(kIouThresholds), len(classes)), np.nan)
    for ci, c in enumerate(classes):
        scores: List[np.ndarray] = []
        tps: List[np.ndarray] = []
        n_gt = 0
        for g, d in zip(gt, det):
            gb = np.asarray(g["boxes"], dtype=np.float64).reshape(-1, 4)[np.asarray(g["classes"]) == c]
            sel = np.asarray(d["classes"]) == c
            db = np.asarray(d["boxes"], dtype=np.float64).reshape(-1, 4)[sel]
            ds = np.asarray(d["scores"], dtype=np.float64)[sel]
            order = np.argsort(-ds, kind="mergesort")[:max_dets]
            db, ds = db[order], ds[order]
            n_gt += len(gb)
            iou = box_iou(db, gb)
            scores.append(ds)
            tps.append(np.stack([_match(iou, t) for t in kIouThresholds]) if len(ds) else
                       np.zeros((len(kIouThresholds), 0), dtype=bool))
        if n_gt == 0:
            continue
        s = np.concatenate(scores)
        order = np.argsort(-s, kind="mergesort")
        tp = np.concatenate(tps, axis=1)[:, order]
        for ti in range(len(kIouThresholds)):
            ctp = np.cumsum(tp[ti])
            cfp = np.cumsum(~tp[ti])
            recall = ctp / n_gt
            precision = ctp / np.maximum(ctp + cfp, np.finfo(np.float64).eps)
            for i in range(len(precision) - 1, 0, -1):  # monotone envelope
                precision[i - 1] = max(precision[i - 1], precision[i])
            idx = np.searchsorted(recall, kRecallPoints, side="left")
            q = np.zeros(len(kRecallPoints))
            ok = idx < len(precision)
            q[ok] = precision[idx[ok]]
            ap[ti, ci] = q.mean()
    if not classes:
        return {"map": float("nan"), "ap50": float("nan"), "ap75": float("nan"), "classes": 0,
                "major_map": float("nan"), "per_class": {}, "objects": {}}
    per_class = {c: 100.0 * float(ap[:, ci].mean()) for ci, c in enumerate(classes)}
    major = [per_class[c] for c in (major_of if major_of is not None else major_classes(gt)) if c in per_class]
    return {"map": 100.0 * float(np.nanmean(ap)), "ap50": 100.0 * float(np.nanmean(ap[0])),
            "ap75": 100.0 * float(np.nanmean(ap[5])), "classes": len(classes),
            "major_map": float(np.mean(major)) if major else float("nan"), "per_class": per_class,
            "objects": counts}
