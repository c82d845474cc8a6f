"""CenterNet detection decoding, batched, exactly as the graph's own post-processing does it.

The TFJS graph decodes one image at a time with a [1, -1] reshape; training and evaluation run batches, so this
module re-implements it in torch: 3x3 peak mask, top-k over (y, x, class) in NHWC order with TF's tie-breaking,
boxes = centre * stride -+ wh (wh already scaled by the graph). tests check it against the graph's detections.
"""
import math

import torch
import torch.nn.functional as F

# COCO class names in the model's class order (0-based, 80 classes).
kCocoClasses = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard",
    "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange", "broccoli",
    "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed", "dining table", "toilet",
    "tv", "laptop", "mouse", "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush")


def decode_detections(keypoints: torch.Tensor, wh: torch.Tensor, k: int = 100, stride: int = 4) -> torch.Tensor:
    """keypoints N x H x W x C (sigmoid), wh N x H x W x 4 -> N x k x 6 (x1, y1, x2, y2, score, class)."""
    n, h, w, c = keypoints.shape
    kp = keypoints.permute(0, 3, 1, 2)
    pooled = F.max_pool2d(F.pad(kp, (1, 1, 1, 1), value=-math.inf), 3, 1)
    peaks = keypoints * (kp == pooled).permute(0, 2, 3, 1).to(keypoints.dtype)
    flat = peaks.reshape(n, -1)
    scores, idx = torch.sort(flat, dim=1, descending=True, stable=True)
    scores, idx = scores[:, :k], idx[:, :k]
    cls = torch.remainder(idx, c)
    pos = torch.div(idx, c, rounding_mode="floor")
    ys = torch.div(pos, w, rounding_mode="floor").to(keypoints.dtype) * stride
    xs = torch.remainder(pos, w).to(keypoints.dtype) * stride
    g = wh.reshape(n, h * w, 4).gather(1, pos.unsqueeze(-1).expand(-1, -1, 4))
    return torch.stack([xs - g[..., 0], ys - g[..., 1], xs + g[..., 2], ys + g[..., 3], scores,
                        cls.to(keypoints.dtype)], dim=-1)
