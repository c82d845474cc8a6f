"""The video demo's outputs from what the device received (slimcodec-device's JSON Lines, one file per run: the
adaptive controller at one deadline, or a fixed (s, b); scripts/demo-video): the full teacher's detections on the same
frames (the reference: the frame at the teacher's input size, no split), mAP of the device's detections against them
per frame and per run (COCO mAP@[.5:.95], training/slimtrain/coco_map.py, reference boxes = teacher detections with
score >= 0.3, as training's evaluation), the half-resolution teacher's mAP on the same frames (the student's ceiling),
an annotated video per run (boxes and labels the device received, its (s, b), the round trip) and a contact sheet PNG
(device beside teacher). A run is named by its file, device_NAME.jsonl: 1500ms for an adaptive run, s4b4_3000ms for
a fixed one.

  /usr/bin/python3 tools/video_report.py --device DIR/device_1500ms.jsonl DIR/device_s4b4_3000ms.jsonl --video vtest.avi --out DIR

Needs python3-torch, python3-numpy, python3-pil, python3-av and the teacher (scripts/fetch-teacher).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "training"))
from slimtrain import data  # noqa: E402
from slimtrain.centernet import kCocoClasses  # noqa: E402
from slimtrain.coco_map import mean_average_precision  # noqa: E402
from slimtrain.teacher import CenterNetTeacher  # noqa: E402

kGtThreshold = 0.3    # reference boxes, as training/slimtrain/evaluate.py
kDrawThreshold = 0.3  # boxes drawn on the video and the contact sheet


def run_name(path):
    """device_NAME.jsonl -> NAME."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem[len("device_"):] if stem.startswith("device_") else stem


def read_device(paths):
    """slimcodec-device's lines (docs/device.md), each file's run name and deadline (from its summary line),
    detections as (class, score, x1, y1, x2, y2) in the frame's pixels, status as the Errc number."""
    rows, runs = [], []
    for path in paths:
        lines = [json.loads(line) for line in open(path) if line.strip()]
        summary = [r for r in lines if r.get("summary")]
        if len(summary) != 1:
            sys.exit(f"{path}: not slimcodec-device output (no summary line)")
        for r in lines:
            if not r.get("summary"):
                rows.append(dict(r, run=run_name(path), deadline_ms=summary[0]["deadline_ms"], status=r["status_code"],
                                 detections=[[d["class"], d["score"], *d["box"]] for d in r["detections"]]))
        if run_name(path) in runs:
            sys.exit(f"{path}: a second file for run {run_name(path)}")
        runs.append(run_name(path))
    return rows, runs


def video_frames(path, wanted):
    import av
    out = {}
    with av.open(path) as c:
        for i, f in enumerate(c.decode(c.streams.video[0])):
            if i in wanted:
                out[i] = f.to_ndarray(format="rgb24")
            if len(out) == len(wanted):
                break
    return out


def teacher_detections(teacher, frames, size, via=None):
    """frame index -> (N x 6 array: x1, y1, x2, y2, score, class) in the frame's pixels, top 100. `via`: a smaller
    size the frame passes through first (the student's input resolution), then back up to `size`: the ceiling of
    any split at that resolution."""
    out = {}
    with torch.no_grad():
        for i, img in frames.items():
            h, w = img.shape[:2]
            x = data.resize_view(data.to_chw(img), via or size).float().unsqueeze(0)
            if via:
                x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)
            outputs, _ = teacher.tail(teacher.head(x))
            det = teacher.predictions(outputs)[0].float().numpy().copy()
            det[:, [0, 2]] *= w / size[1]
            det[:, [1, 3]] *= h / size[0]
            out[i] = det
    return out


def as_gt(det):
    keep = det[:, 4] >= kGtThreshold
    return {"boxes": det[keep, :4], "classes": det[keep, 5].astype(np.int64)}


def as_det(rows_dets):
    d = np.asarray(rows_dets, dtype=np.float64).reshape(-1, 6)
    return {"boxes": d[:, 2:6], "scores": d[:, 1], "classes": d[:, 0].astype(np.int64)}


def empty_det():
    return {"boxes": np.zeros((0, 4)), "scores": np.zeros(0), "classes": np.zeros(0, dtype=np.int64)}


def colour(cls):
    rng = np.random.default_rng(int(cls) * 7 + 3)
    return tuple(int(v) for v in rng.integers(64, 256, size=3))


def draw(img, boxes, title):
    """boxes: iterable of (class, score, x1, y1, x2, y2). Returns a PIL image with boxes, labels and a title bar."""
    im = Image.fromarray(img).convert("RGB")
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default()
    for cls, score, x1, y1, x2, y2 in boxes:
        if score < kDrawThreshold:
            continue
        c = colour(cls)
        d.rectangle([x1, y1, x2, y2], outline=c, width=2)
        label = f"{kCocoClasses[int(cls)] if 0 <= int(cls) < 80 else int(cls)} {score:.2f}"
        tw = d.textlength(label, font=font)
        d.rectangle([x1, y1 - 12, x1 + tw + 4, y1], fill=c)
        d.text((x1 + 2, y1 - 11), label, fill=(0, 0, 0), font=font)
    d.rectangle([0, 0, im.width, 16], fill=(0, 0, 0))
    d.text((4, 2), title, fill=(255, 255, 255), font=font)
    return im


def write_video(path, images, fps=5):
    import av
    with av.open(path, "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height = images[0].width, images[0].height
        s.pix_fmt = "yuv420p"
        s.bit_rate = 2_000_000
        for im in images:
            for p in s.encode(av.VideoFrame.from_image(im)):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", required=True, nargs="+")
    ap.add_argument("--video", default="/usr/share/doc/opencv-doc/examples/data/vtest.avi")
    ap.add_argument("--out", required=True)
    ap.add_argument("--teacher-size", type=int, default=512)
    ap.add_argument("--sheet-frames", type=int, default=4)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    rows, runs = read_device(args.device)
    indices = sorted({r["frame"] for r in rows})
    frames = video_frames(args.video, set(indices))
    teacher = CenterNetTeacher()
    ref = teacher_detections(teacher, frames, (args.teacher_size, args.teacher_size))
    gt = {i: as_gt(ref[i]) for i in indices}
    half = args.teacher_size // 2  # the student's input resolution (docs/training.md)
    ceiling_det = teacher_detections(teacher, frames, (args.teacher_size, args.teacher_size), (half, half))

    summary, per_frame = {}, []
    for run in runs:
        rs = [r for r in rows if r["run"] == run]
        dl = rs[0]["deadline_ms"]
        in_time = [as_det(r["detections"]) if r["deadline_met"] else empty_det() for r in rs]
        answered = [as_det(r["detections"]) if r["status"] == 0 else empty_det() for r in rs]
        gts = [gt[r["frame"]] for r in rs]
        m_time = mean_average_precision(gts, in_time)
        m_all = mean_average_precision(gts, answered)
        m_ceiling = mean_average_precision(gts, [as_det([(c, sc, x1, y1, x2, y2) for x1, y1, x2, y2, sc, c in
                                                         ceiling_det[r["frame"]]]) for r in rs])
        hits = sum(r["deadline_met"] for r in rs)
        summary[run] = {"deadline_ms": dl, "frames": len(rs), "deadline_met": hits,
                        "map_within_deadline": m_time["map"], "ap50_within_deadline": m_time["ap50"],
                        "map_answered": m_all["map"], "teacher_half_resolution_map": m_ceiling["map"],
                        "mean_rtt_ms": float(np.mean([r["rtt_ms"] for r in rs])),
                        "mean_bytes": float(np.mean([r["bytes"] for r in rs])),
                        "s_b_used": sorted({f"s{r['s']}b{r['b']}" for r in rs if r["s"]})}
        for r, d, g in zip(rs, in_time, gts):
            m = mean_average_precision([g], [d])["map"] if len(g["classes"]) else float("nan")
            per_frame.append({"run": run, "deadline_ms": dl, "frame": r["frame"], "s": r["s"], "b": r["b"], "rtt_ms": r["rtt_ms"],
                              "deadline_met": r["deadline_met"], "device_boxes": int((d["scores"] >= kDrawThreshold).sum()),
                              "teacher_boxes": int(len(g["classes"])), "map": m})
        # Annotated video: what the device received, per frame.
        images = []
        for r in rs:
            title = (f"frame {r['frame']}  deadline {dl:g} ms  s={r['s']} b={r['b']}  {r['bytes']} B  "
                     f"RTT {r['rtt_ms']:.0f} ms  {'hit' if r['deadline_met'] else 'MISS'}")
            images.append(draw(frames[r["frame"]], r["detections"] if r["status"] == 0 else [], title))
        write_video(os.path.join(args.out, f"annotated_{run}.mp4"), images)

    with open(os.path.join(args.out, "map.json"), "w") as f:
        json.dump({"reference": f"full teacher at {args.teacher_size}x{args.teacher_size}, boxes with score >= "
                                f"{kGtThreshold}", "metric": "mAP@[.5:.95] (0..100)", "per_run": summary,
                   "per_frame": per_frame}, f, indent=1, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x)
    with open(os.path.join(args.out, "frames.csv"), "w") as f:
        f.write("run,deadline_ms,frame,s,b,rtt_ms,deadline_met,device_boxes,teacher_boxes,map\n")
        for p in per_frame:
            f.write(",".join(str(p[k]) for k in ("run", "deadline_ms", "frame", "s", "b", "rtt_ms", "deadline_met",
                                                 "device_boxes", "teacher_boxes", "map")) + "\n")

    # Contact sheet: a few frames of the last run (scripts/demo-video's fixed s4b4 one), the device's boxes (left)
    # beside the full teacher's (right).
    rs = [r for r in rows if r["run"] == runs[-1]]
    n = min(args.sheet_frames, len(rs))
    pick = [rs[i] for i in sorted({int(k * (len(rs) - 1) / max(1, n - 1)) for k in range(n)})]
    tiles = []
    for r in pick:
        left = draw(frames[r["frame"]], r["detections"] if r["status"] == 0 else [],
                    f"device: frame {r['frame']}, s={r['s']} b={r['b']}, {r['bytes']} B, RTT {r['rtt_ms']:.0f} ms "
                    f"({'hit' if r['deadline_met'] else 'MISS'} {r['deadline_ms']:g} ms)")
        t = ref[r["frame"]]
        right = draw(frames[r["frame"]], [(c, s, x1, y1, x2, y2) for x1, y1, x2, y2, s, c in t],
                     f"full teacher ({args.teacher_size}x{args.teacher_size}, no split)")
        tiles.append((left, right))
    w, h = tiles[0][0].width, tiles[0][0].height
    sheet = Image.new("RGB", (2 * w + 8, len(tiles) * (h + 8)), (255, 255, 255))
    for k, (a, b) in enumerate(tiles):
        sheet.paste(a, (0, k * (h + 8)))
        sheet.paste(b, (w + 8, k * (h + 8)))
    scale = min(1.0, 1200 / sheet.width)
    sheet = sheet.resize((int(sheet.width * scale), int(sheet.height * scale)), Image.BILINEAR)
    sheet.save(os.path.join(args.out, "contact_sheet.png"))

    print("per run (mAP@[.5:.95] of the device's detections against the full teacher's):")
    for run, s in summary.items():
        print(f"  {run}: {s['deadline_met']}/{s['frames']} frames within the deadline, mAP {s['map_within_deadline']:.1f} "
              f"(counting late answers: {s['map_answered']:.1f}; the half-resolution teacher's ceiling on the same "
              f"frames {s['teacher_half_resolution_map']:.1f}), mean RTT {s['mean_rtt_ms']:.0f} ms, "
              f"mean {s['mean_bytes']:.0f} B, (s, b) used {', '.join(s['s_b_used'])}")
    print(f"wrote {args.out}: annotated_*.mp4, contact_sheet.png, map.json, frames.csv")


if __name__ == "__main__":
    main()
