"""Writes tests/server_detection/data/centernet_maps.safetensors: small CenterNet map stacks (80 heatmaps + l, t, r, b) and
the detections PyTorch decodes from them with training/slimtrain/centernet.py (the code evaluation uses), for
test_centernet.cpp. Run with /usr/bin/python3 (python3-torch) from the repository root.

Two cases, 84 x 8 x 10 each: `smooth` (sigmoid of Gaussian noise plus planted peaks) and `ties` (values on a
1/8 grid, so equal scores and flat plateaus exercise the tie-breaking and the max-pool rule).
"""
import os
import sys

import torch

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(root, "training"))
sys.path.insert(0, os.path.join(root, "python"))
from slimtrain.centernet import decode_detections  # noqa: E402
from slimcodec_ref import save_safetensors  # noqa: E402

kClasses, kH, kW = 80, 8, 10


def make_maps(gen, ties):
    logits = torch.randn(kClasses, kH, kW, generator=gen) * 1.5 - 2.0
    for _ in range(12):  # planted objects
        c = int(torch.randint(kClasses, (1,), generator=gen))
        y = int(torch.randint(kH, (1,), generator=gen))
        x = int(torch.randint(kW, (1,), generator=gen))
        logits[c, y, x] += 4.0
    heat = torch.sigmoid(logits)
    if ties:
        heat = torch.clamp(torch.round(heat * 8) / 8, min=1 / 8)
    wh = torch.rand(4, kH, kW, generator=gen) * 20 + 0.5
    return torch.cat([heat, wh], 0).float().contiguous()


def main():
    gen = torch.Generator().manual_seed(12)
    tensors = {}
    for name, ties in (("smooth", False), ("ties", True)):
        maps = make_maps(gen, ties)
        kp = maps[:kClasses].permute(1, 2, 0).unsqueeze(0)
        wh = maps[kClasses:].permute(1, 2, 0).unsqueeze(0)
        det = decode_detections(kp, wh, k=100, stride=4)[0]  # 100 x 6: x1, y1, x2, y2, score, class
        tensors[f"{name}_maps"] = maps
        tensors[f"{name}_detections"] = det.float().contiguous()
    out = os.path.join(root, "tests", "server_detection", "data", "centernet_maps.safetensors")
    save_safetensors(out, tensors, {"generator": "tests/server_detection/make_centernet_fixture.py", "stride": "4"})
    print(out)


if __name__ == "__main__":
    main()
