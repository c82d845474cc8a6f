"""Checks the torch loader of the CenterNet teacher against TensorFlow.js (WASM backend in Node).

With TFJS installed (scripts/fetch-teacher --with-tfjs), runs both on the reference photos and compares every
heatmap value, every wh value and the top-10 detections; --write-reference stores what TFJS produced (a digest:
top-10 detections and sampled heatmap values) in training/tests/data/, so the unit tests can check the loader
without Node. Without TFJS, compares with that stored digest.
"""
import hashlib
import json
import os
import subprocess
import tempfile

import numpy as np
import torch

from . import data, paths
from .teacher import CenterNetTeacher

kReferencePhotos = ("astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png")
kReferenceFile = os.path.join(paths.kRepoRoot, "training", "tests", "data", "centernet_tfjs_reference.json")
kSamples = 256  # sampled heatmap positions per image in the stored digest
kTopK = 10


def reference_frames():
    """The reference photos at 512 x 512, as uint8 NHWC arrays."""
    d = data.kDebianStills["python3-skimage"][0]
    out = []
    for name in kReferencePhotos:
        img = data.load_rgb(os.path.join(d, name))
        out.append((name, data.resize_view(data.to_chw(img), (512, 512)).permute(1, 2, 0).contiguous().numpy()))
    return out


def run_torch(teacher: CenterNetTeacher, frame: np.ndarray):
    x = torch.from_numpy(frame).float().permute(2, 0, 1).unsqueeze(0)
    with torch.no_grad():
        outputs, _ = teacher.tail(teacher.head(x))
        det = teacher.predictions(outputs)
    return outputs["keypoints"][0].numpy(), outputs["wh"][0].numpy(), det[0].numpy()


def run_tfjs(node_modules: str, model_json: str, frames):
    script = os.path.join(paths.kRepoRoot, "training", "tools", "tfjs_reference.js")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, frame in frames:
            f = os.path.join(tmp, name + ".rgb")
            frame.tofile(f)
            files.append(f)
        env = dict(os.environ, NODE_PATH=node_modules)
        subprocess.run(["node", script, model_json, "512", "512", *files], check=True, env=env)
        out = []
        for f in files:
            kp = np.fromfile(f + ".tower_0_keypoints.f32", dtype=np.float32).reshape(128, 128, 80)
            wh = np.fromfile(f + ".tower_0_wh.f32", dtype=np.float32).reshape(128, 128, 4)
            det = np.fromfile(f + ".tower_0_detections.f32", dtype=np.float32).reshape(100, 6)
            out.append((kp, wh, det))
        return out


def sample_positions(seed: int = 8):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 128 * 128 * 80, size=kSamples)


def digest(frame, kp, det) -> dict:
    pos = sample_positions()
    return {"input_sha256": hashlib.sha256(frame.tobytes()).hexdigest(),
            "heatmap_samples": [float(v) for v in kp.reshape(-1)[pos]],
            "heatmap_sum": float(kp.astype(np.float64).sum()),
            "top10": [[float(v) for v in row] for row in det[:kTopK]]}


def compare_digest(ref: dict, kp, det) -> dict:
    pos = sample_positions()
    return {"heatmap_max_abs": float(np.abs(kp.reshape(-1)[pos] - np.array(ref["heatmap_samples"])).max()),
            "heatmap_sum_rel": abs(float(kp.astype(np.float64).sum()) - ref["heatmap_sum"]) / ref["heatmap_sum"],
            "classes_equal": bool(np.array_equal(det[:kTopK, 5], np.array(ref["top10"])[:, 5])),
            "box_max_abs": float(np.abs(det[:kTopK, :4] - np.array(ref["top10"])[:, :4]).max()),
            "score_max_abs": float(np.abs(det[:kTopK, 4] - np.array(ref["top10"])[:, 4]).max())}


def main(args) -> int:
    teacher = CenterNetTeacher().eval()
    frames = reference_frames()
    have_tfjs = os.path.isdir(os.path.join(args.node_modules, "@tensorflow", "tfjs-backend-wasm"))
    ok = True
    if have_tfjs:
        tf_out = run_tfjs(args.node_modules, teacher.model_json, frames)
        stored = {}
        for (name, frame), (kp_t, wh_t, det_t) in zip(frames, tf_out):
            kp, wh, det = run_torch(teacher, frame)
            kp_err = float(np.abs(kp - kp_t).max())
            wh_err = float(np.abs(wh - wh_t).max() / max(1.0, np.abs(wh_t).max()))
            top_same = bool(np.array_equal(det[:kTopK, 5], det_t[:kTopK, 5])) and \
                float(np.abs(det[:kTopK, :5] - det_t[:kTopK, :5]).max()) < 0.05
            print(f"{name}: heatmap max |torch - tfjs| {kp_err:.2e}, wh max rel {wh_err:.2e}, top-10 identical "
                  f"{top_same}")
            ok &= kp_err < 1e-5 and wh_err < 1e-4 and top_same
            stored[name] = digest(frame, kp_t, det_t)
        if args.write_reference and ok:
            os.makedirs(os.path.dirname(kReferenceFile), exist_ok=True)
            with open(kReferenceFile, "w") as f:
                json.dump({"tfjs": "@tensorflow/tfjs-core 4.22.0, backend wasm", "model": "@vladmandic/human 3.3.6 "
                           "models/centernet.json", "images": stored}, f, indent=1)
            print(f"wrote {kReferenceFile}")
    else:
        print(f"TFJS not found under {args.node_modules}: comparing with the stored digest {kReferenceFile}")
        with open(kReferenceFile) as f:
            ref = json.load(f)["images"]
        for name, frame in frames:
            kp, _, det = run_torch(teacher, frame)
            r = compare_digest(ref[name], kp, det)
            print(f"{name}: {r}")
            ok &= r["heatmap_max_abs"] < 1e-5 and r["classes_equal"] and r["box_max_abs"] < 0.05
    print("teacher check", "passed" if ok else "FAILED")
    return 0 if ok else 1
