"""The end-to-end fixture for tests/training: what the PyTorch student computes on a real photo with the
committed weights, so the C++ test can check that the library, loading the same file unchanged, decodes the
same thing (tests/training/test_trained_model.cpp).

The path is the deployed one: PNG -> io::preprocess_rgb_u8 to the encoder input -> s members -> quantizer at b
bits -> wire frame -> dequantize -> reconstructor. Stored: the latent per s (f32), the codes per (s, b) (u8), the
teacher's tap on the frame and the reconstruction for (4, 4) (f16), the tap NMSE of each checked (s, b), and the
top-10 detections that the teacher tail makes of the (4, 4) reconstruction (for the LibTorch backend's test).
"""
import hashlib
import json
import os

import torch

from . import data, paths
from slimcodec_ref import preprocess, save_safetensors  # noqa: E402
from .export import load_student
from .student import quantize_codes, dequantize_codes

kFixtureDir = os.path.join(paths.kRepoRoot, "tests", "training", "data")
kPhoto = os.path.join(kFixtureDir, "coffee_256x168.png")
kChecked = ((1, 2), (2, 3), (4, 4))


def make_photo(path: str = kPhoto):
    """A real photo small enough to commit: python3-skimage's coffee.png (public domain), downscaled."""
    from PIL import Image
    src = os.path.join(data.kDebianStills["python3-skimage"][0], "coffee.png")
    with Image.open(src) as im:
        im.convert("RGB").resize((256, 168), Image.LANCZOS).save(path, optimize=True)


def write_fixture(weights: str, teacher, out: str = None, photo: str = kPhoto, log=print) -> str:
    out = out or os.path.join(kFixtureDir, "e2e_reference.safetensors")
    student = load_student(weights).cpu()
    teacher = teacher.cpu()
    c, h, w = teacher.tap_shape()
    sh, sw = 2 * h, 2 * w
    rgb = data.load_rgb(photo)
    x = preprocess(rgb, sh, sw).unsqueeze(0)
    frame = data.resize_view(data.to_chw(rgb), teacher.input_size).unsqueeze(0).float()
    tensors, meta = {}, {}
    with torch.no_grad():
        tap = teacher.head(frame)
        scale = float(tap.pow(2).mean())
        for s in range(1, student.members + 1):
            tensors[f"latent_s{s}"] = student.encoder(x, s)[0].contiguous()
        for s, b in kChecked:
            bound = student.bound(s)
            codes = quantize_codes(tensors[f"latent_s{s}"], b, bound)
            tensors[f"codes_s{s}_b{b}"] = codes.to(torch.uint8)
            y = student.reconstructor(dequantize_codes(codes, b, bound).unsqueeze(0))
            meta[f"nmse_s{s}_b{b}"] = float((y - tap).pow(2).mean()) / scale
            if (s, b) == kChecked[-1]:
                tensors[f"features_s{s}_b{b}"] = y[0].half().contiguous()
                outputs, _ = teacher.tail(y)
                tensors[f"detections_s{s}_b{b}"] = teacher.predictions(outputs)[0, :10].float().contiguous()
    tensors["teacher_tap"] = tap[0].half().contiguous()
    with open(weights, "rb") as f:
        meta["weights_sha256"] = hashlib.sha256(f.read()).hexdigest()
    name = os.path.basename(weights)[len("slimcodec-"):-len(".safetensors")]
    meta.update({"weights": os.path.relpath(weights, paths.kRepoRoot), "photo": os.path.relpath(photo, paths.kRepoRoot),
                 "table": f"docs/accuracy-{name}.json",
                 "encoder_input": json.dumps([sh, sw]), "checked": json.dumps(kChecked), "teacher": teacher.name})
    save_safetensors(out, tensors, {k: v if isinstance(v, str) else repr(v) for k, v in meta.items()})
    log(f"wrote {out}: " + ", ".join(f"{k} {v:.4f}" for k, v in meta.items() if k.startswith("nmse")))
    return out
