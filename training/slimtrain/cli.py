"""Command line: prepare-data, run (cache -> train -> ablation -> evaluate -> export -> report), evaluate, export,
check-teacher. `run --preset smoke` is the CPU smoke configuration (CTest), `run --preset full` the GPU run."""
import argparse
import dataclasses
import json
import os
import platform
import shlex
import shutil
import sys
import time

import torch

from . import data, paths
from .cache import TargetCache
from .evaluate import Evaluator
from .export import export_torchscript, load_student, save_student
from .report import build_table, write_all
from .student import Student, encoder_macs
from .teacher import load_teacher
from .threads import thread_count
from .train import TrainConfig, train

# Presets: the smoke one must stay within a couple of CPU minutes; the full one within a GPU lease.
kPresets = {
    "smoke": dict(input_size=128, views=2, train_limit=4, heldout_limit=2, steps=8, batch=2, lr=3e-3,
                  time_budget=0.0, later_taps=(), amp="none", eval_batch=4, log_every=5, checkpoint_every=10),
    # One pinned CPU core: 16 crops of 64x64 per step for the first quarter of the steps, then one whole
    # 256x256 view per step to the end (about 1.5-2 s a step either way on an idle core). Adam 2e-3 after a
    # 50-step warm-up, constant, then a linear decay over the last 15 %. Counted in steps only, so a loaded
    # machine changes how long it takes, not what it learns; --steps sets the budget, --resume stacks sittings.
    # The teacher runs on one 512x512 view at a time (cache, evaluation): at 8 its im2col buffers pass glibc's
    # 32 MiB mmap limit and each call faults them in anew: 7.8x slower a view (bench/bench_teacher_batch.py).
    "cpu": dict(input_size=512, views=12, train_limit=None, heldout_limit=None, steps=3000, batch=1, lr=2e-3,
                time_budget=0.0, later_taps=(), amp="none", eval_batch=1, log_every=25, checkpoint_every=100,
                schedule="linear", crop=64, crop_batch=16, crop_fraction=0.25, margin=3,
                curve_at=(0.25, 0.5, 0.75, 1.0)),
    # One GPU lease: 600 steps of 32 (about 180 s at the ~108 images/s measured on an H200), the same step schedule
    # as the CPU run; the time budget only stops a slower card early (it would then miss the decay).
    "full": dict(input_size=512, views=48, train_limit=None, heldout_limit=None, steps=600, batch=32, lr=2e-3,
                 time_budget=240.0, later_taps=(), amp="bf16", eval_batch=32, log_every=100, checkpoint_every=500),
}
kSkimageSmoke = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "motorcycle_left.png", "camera.png")


def _eval_batch(requested, device) -> int:
    """Views per teacher/student call in evaluate and spread: one on a CPU (see the cpu preset), 8 on a GPU."""
    return requested or (8 if device.type == "cuda" else 1)


def _log(*a):
    print(*a, flush=True)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _images(source: str, train_limit, heldout_limit):
    """(train, heldout) RGB arrays from a prepared folder, or 'skimage': python3-skimage's photos in memory."""
    if source == "skimage":
        d = data.kDebianStills["python3-skimage"][0]
        imgs = [data.load_rgb(os.path.join(d, f)) for f in kSkimageSmoke if os.path.exists(os.path.join(d, f))]
        if len(imgs) < 3:
            raise FileNotFoundError("python3-skimage's sample photos are missing (apt-get install python3-skimage)")
        n_train = min(train_limit or len(imgs) - 2, len(imgs) - 1)
        return imgs[:n_train], imgs[n_train:][:heldout_limit]
    if not os.path.exists(os.path.join(source, "manifest.json")):
        raise FileNotFoundError(f"{source}/manifest.json is missing: run `training/train.py prepare-data` first")
    return data.load_split(source, "train", train_limit), data.load_split(source, "heldout", heldout_limit)


def _teacher(spec: str, input_size: int, device):
    t = load_teacher(spec)
    if input_size and tuple(t.input_size) != (input_size, input_size):
        t.input_size = (input_size, input_size)
        if hasattr(t, "_tap_shape"):
            del t._tap_shape
    return t.to(device)


def _frames(teacher, images, device):
    return torch.stack([data.resize_view(data.to_chw(img, device), teacher.input_size) for img in images])


def cmd_prepare_data(args):
    if args.wide:
        from . import wide
        wide.prepare_wide(args.out or paths.kWideDataDir, args.cache, max_side=args.max_side,
                          frames_per_video=args.frames_per_video, log=_log)
        return 0
    out = args.out or paths.kDefaultDataDir
    data.prepare_dataset(out, folders=args.folder, use_debian=not args.no_debian, max_side=args.max_side,
                         video_every=args.video_every, heldout_fraction=args.heldout_fraction, log=_log)
    if args.extra:
        from . import wide
        wide.add_training_images(out, args.cache, frames_per_video=args.frames_per_video, log=_log)
    return 0


def _report_info(args, teacher, evaluator, p, results, device, n_train, n_views):
    c, h, w = teacher.tap_shape()
    student_hw = (2 * h, 2 * w)
    scale = {"smoke": "smoke (CPU, tiny: checks the pipeline, not the model)",
             "cpu": "cpu (one pinned core, crop + whole-view distillation)"}.get(args.preset, "full")
    training = {"preset": args.preset, "device": str(device) + (f" ({torch.cuda.get_device_name(device)})"
                                                              if device.type == "cuda" else ""),
                "torch": torch.__version__, "teacher": teacher.name, "tap": teacher.tap,
                "teacher_input": list(teacher.input_size), "student_input": list(student_hw),
                "train_images": n_train, "views": n_views, "heldout_images": int(evaluator.frames.shape[0]),
                "reference_objects": evaluator.objects, "batch": p["batch"], "lr": p["lr"]}
    training["threads"] = torch.get_num_threads()
    from .student import wire_module
    training["evaluation_quantizer"] = ("the slimcodec module: C++ encode_frame, then decode_frame" if wire_module()
                                        else "training's torch copy of the quantizer (slimcodec module not built)")
    training["machine"] = f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.system()}"
    training["seed"] = args.seed
    for name, r in results.items():
        r = _result_json(r)
        training[f"{name}_steps"] = r["steps"]
        training[f"{name}_seconds"] = r["seconds"]
        training[f"{name}_probe_loss_before"] = {str(k): round(v, 5) for k, v in r["probe_before"].items()}
        training[f"{name}_probe_loss_after"] = {str(k): round(v, 5) for k, v in r["probe_after"].items()}
    src = (f"measured by training/ (slimtrain run --preset {args.preset}) on {training['heldout_images']} held-out "
           f"images; teacher {teacher.name} split at {teacher.tap}")
    return {"source": src, "metric": teacher.metric, "scale": scale,
            "reference": (f"the teacher's detections with score >= {evaluator.gt_threshold} on the full-resolution "
                          f"frame ({evaluator.objects} objects)") if evaluator.detector else
            "the teacher's top-1 class on the full-resolution frame",
            "quantizer": {"rule": "quant::bounds_from_ensemble", "k": 3.0, "member_sigma": 1.0},
            "training": training}




def _curve_probe(evaluator, command):
    """Held-out mAP and tap NMSE of s = 1 and s = 4 at b = 2 and b = 4: the learning curve's points."""
    def probe(step, student):
        out = {"command": command}
        for s_, b_ in ((1, 2), (1, 4), (4, 2), (4, 4)):
            r = evaluator.student(student, s_, b_)
            out[f"s{s_}b{b_}"] = {"map": round(r["map"], 2), "major_map": round(r.get("major_map", float("nan")), 2),
                                  "person_ap": round(r.get("per_class", {}).get(0, float("nan")), 2),
                                  "tap_nmse": round(r["tap_nmse"], 4)}
        return out
    return probe


def _train_variant(variant, args, p, teacher, cache, device, evaluator=None):
    cfg = TrainConfig(steps=p["steps"], batch=p["batch"], lr=p["lr"], time_budget=p["time_budget"],
                      later_taps=tuple(p["later_taps"]), amp=p["amp"], channels_last=device.type == "cuda",
                      seed=args.seed, log_every=p["log_every"], checkpoint_every=p["checkpoint_every"],
                      noise=variant == "noise", proxy=args.proxy, output_weight=args.output_weight,
                      output_heat=args.output_heat,
                      **{k: p[k] for k in ("schedule", "crop", "crop_batch", "crop_fraction", "margin") if k in p})
    if variant == "noise" and evaluator is not None and p.get("curve_at"):
        cfg = dataclasses.replace(cfg, curve_at=tuple(p["curve_at"]))
    torch.manual_seed(args.seed)
    student = Student()
    _log("training with noise regularization (sandwich rule)" if variant == "noise" else
         "ablation: training without noise regularization")
    result = train(student, teacher, cache, cfg, device, os.path.join(args.out, f"{variant}.ckpt"), args.resume,
                   log=_log, on_curve=_curve_probe(evaluator, args.command_line) if evaluator is not None else None)
    return student, result


def cmd_run(args):
    p = dict(kPresets[args.preset])
    for k in ("steps", "batch", "lr", "time_budget", "views", "train_limit", "heldout_limit", "amp"):
        v = getattr(args, k)
        if v is not None:
            p[k] = v
    if args.later_taps is not None:
        p["later_taps"] = tuple(t for t in args.later_taps.split(",") if t)
    device = _device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
    else:
        torch.set_num_threads(thread_count(args.threads))
    os.makedirs(args.out, exist_ok=True)
    t_start = time.monotonic()
    torch.manual_seed(args.seed)
    _log(f"slimtrain run --preset {args.preset} on {device}, torch {torch.__version__}, python "
         f"{platform.python_version()}, {torch.get_num_threads()} thread(s), seed {args.seed}")
    try:
        teacher = _teacher(args.teacher, p["input_size"], device)
    except FileNotFoundError as e:
        if args.skip_without_teacher:
            _log(f"SKIP: {e}")
            return 77
        raise
    c, h, w = teacher.tap_shape()
    _log(f"teacher {teacher.name}: input {teacher.input_size}, tap {teacher.tap} {c}x{h}x{w}")
    if c != 24:
        raise ValueError(f"the tap has {c} channels; the paper reconstructor produces 24")
    variants = [args.variant] if args.variant != "both" else ["noise"] + ([] if args.no_ablation else ["ablation"])
    # The ablation never trains beside the main run (they would share the cores): `--variant ablation` trains it
    # alone, later, into the same --out; its rows (ablation-rows.json) then join the main run's table.
    done_ablation = os.path.join(args.out, "ablation-rows.json")
    train_imgs, held_imgs = _images(args.data, p["train_limit"], p["heldout_limit"])
    _log(f"data {args.data}: {len(train_imgs)} training images, {len(held_imgs)} held-out")
    frames = _frames(teacher, held_imgs, device)
    evaluator = Evaluator(teacher, frames, batch=p["eval_batch"], gt_threshold=args.gt_threshold)
    if evaluator.objects == 0:
        raise RuntimeError(f"the teacher finds no object with score >= {args.gt_threshold} in the held-out images")
    cache_path = os.path.join(args.out, "targets.pt")
    cache = None
    if args.resume and os.path.exists(cache_path):
        cache = TargetCache.load(cache_path, device)
        if cache.key == TargetCache.key_of(teacher, train_imgs, p["views"], args.seed, p["later_taps"]):
            _log(f"target cache loaded from {cache_path}: {len(cache)} views")
        else:
            _log(f"target cache {cache_path} was built from other images or settings: building it again")
            cache = None
    if cache is None:
        cache = TargetCache.build(teacher, train_imgs, p["views"], args.seed, p["later_taps"], device,
                                  batch=p["eval_batch"], log=_log)
        if args.save_cache and args.variant != "ablation":
            cache.save(cache_path)
    results, students = {}, {}
    for variant in variants:
        students[variant], results[variant] = _train_variant(variant, args, p, teacher, cache, device,
                                                             evaluator if variant == "noise" else None)
    del cache
    sizes, bits = range(1, Student().members + 1), (1, 2, 3, 4)
    name = args.name or f"{args.preset}"
    meta = {"teacher": teacher.name, "tap": teacher.tap, "teacher_input": json.dumps(list(teacher.input_size)),
            "student_input": json.dumps([2 * h, 2 * w]), "preset": args.preset, "seed": str(args.seed)}
    if args.variant == "ablation":  # trained on its own: its rows and weights, for the main run's table
        _log("student, no noise regularization:")
        rows = evaluator.table(students["ablation"], sizes, bits, log=_log)
        r = results["ablation"]
        save_student(students["ablation"].cpu(), os.path.join(args.out, f"slimcodec-{name}-no-noise.safetensors"),
                     {**meta, "noise_regularization": "false", "steps": str(r.steps)})
        with open(os.path.join(args.out, "ablation-rows.json"), "w") as f:
            json.dump({"rows": rows, "result": _result_json(r)}, f)
        return 0
    calibration = evaluator.calibration()
    _log(f"evaluation on {frames.shape[0]} held-out frames, {evaluator.objects} reference objects; "
         f"calibration {calibration}")
    _log("student, noise regularization:")
    rows = evaluator.table(students["noise"], sizes, bits, log=_log)
    ablation = None
    if "ablation" in students:
        _log("student, no noise regularization:")
        ablation = evaluator.table(students["ablation"], sizes, bits, log=_log)
    if ablation is None and os.path.exists(done_ablation):
        with open(done_ablation) as f:
            blob = json.load(f)
        ablation = blob["rows"]
        results["ablation"] = blob["result"]
    info = _report_info(args, teacher, evaluator, p, results, device, len(train_imgs), len(train_imgs) * p["views"])
    mmacs = encoder_macs(2 * h, 2 * w) / 1e6
    table = build_table(info, rows, ablation, calibration, 6 * (h // 2) * (w // 2), mmacs)
    table["learning_curve"] = results["noise"].curve
    table["crop_gap"] = results["noise"].crop_gap
    table["command"] = args.command_line
    files = write_all(table, os.path.join(args.out, f"accuracy-{name}"),
                      f"slimcodec accuracy ({args.preset} scale): {teacher.name}, {2 * h}x{2 * w} encoder input")
    meta.update(steps=str(results["noise"].steps), noise_regularization="true")
    weights = os.path.join(args.out, f"slimcodec-{name}.safetensors")
    save_student(students["noise"].cpu(), weights, meta)
    files["weights"] = weights
    if "ablation" in students:
        files["weights_ablation"] = os.path.join(args.out, f"slimcodec-{name}-no-noise.safetensors")
        save_student(students["ablation"].cpu(), files["weights_ablation"],
                     {**meta, "noise_regularization": "false", "steps": str(results["ablation"].steps)})
    if not args.no_torchscript:
        files.update(export_torchscript(students["noise"], teacher, os.path.join(args.out, "torchscript"), log=_log))
    summary = {"files": files, "seconds": round(time.monotonic() - t_start, 1),
               "loss": {k: _result_json(r) for k, r in results.items()}}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    _log(f"wrote {', '.join(files.values())} in {summary['seconds']:.0f} s")
    if args.publish:
        _publish(files, name, teacher)
    if args.check_loss_falls:
        failed = False
        for k, r in summary["loss"].items():
            for s, before in r["probe_before"].items():
                after = r["probe_after"][s]
                fell = after < args.check_loss_falls * before
                failed |= not fell
                _log(f"{'ok' if fell else 'FAIL'}: {k} s={s} probe loss {before:.4f} -> {after:.4f} "
                     f"(must end below {args.check_loss_falls} x)")
        if failed:
            return 1
    return 0


def _result_json(r) -> dict:
    if isinstance(r, dict):  # already converted (the ablation process's)
        return r
    return {"probe_before": {str(k): v for k, v in r.probe_before.items()},
            "probe_after": {str(k): v for k, v in r.probe_after.items()}, "steps": r.steps,
            "seconds": round(r.seconds, 1), "first_steps": r.mean_loss(True, 3), "last_steps": r.mean_loss(False, 3)}


def _publish(files, name, teacher):
    """Weights -> training/weights/, table -> docs/, and the C++ end-to-end fixture for those weights."""
    from . import fixture
    os.makedirs(paths.kWeightsDir, exist_ok=True)
    shutil.copy(files["weights"], paths.kWeightsDir)  # the ablation's weights stay with the run (not committed)
    for key in ("json", "md", "png"):
        shutil.copy(files[key], paths.kDocsDir)
    fixture.write_fixture(os.path.join(paths.kWeightsDir, os.path.basename(files["weights"])), teacher, log=_log)
    _log(f"published weights to {paths.kWeightsDir}, the table to {paths.kDocsDir}, the fixture to "
         f"{fixture.kFixtureDir}")


def cmd_publish(args):
    """Publishes results made elsewhere (the GPU run's files): weights, table and the C++ fixture."""
    files = {"weights": os.path.join(args.src, f"slimcodec-{args.name}.safetensors")}
    ablation = os.path.join(args.src, f"slimcodec-{args.name}-no-noise.safetensors")
    if os.path.exists(ablation):
        files["weights_ablation"] = ablation
    for key in ("json", "md", "png"):
        files[key] = os.path.join(args.src, f"accuracy-{args.name}.{key}")
    from slimcodec_ref import load_safetensors
    _, meta = load_safetensors(files["weights"])
    size = json.loads(meta.get("teacher_input", "[512, 512]"))[0]
    _publish(files, args.name, _teacher(args.teacher, size, torch.device("cpu")))
    return 0


def _points(text: str):
    """'1,4;4,fp32' -> [(1, 4), (4, None)]: (s, b) pairs, b None for the unquantized bottleneck."""
    try:
        return [(int(s_), None if b_ == "fp32" else int(b_)) for s_, b_ in (p.split(",") for p in text.split(";"))]
    except ValueError:
        raise SystemExit(f"points {text!r}: expected 's,b' pairs separated by ';', b a number or fp32")


def cmd_evaluate(args):
    device = _device(args.device)
    student = load_student(args.weights).to(device)
    from slimcodec_ref import load_safetensors
    size = args.input_size or json.loads(load_safetensors(args.weights)[1].get("teacher_input", "[512, 512]"))[0]
    teacher = _teacher(args.teacher, size, device)
    train_imgs, held = _images(args.data, args.heldout_limit if args.split == "train" else 0,
                               args.heldout_limit if args.split == "heldout" else 0)
    if args.split == "train":  # what the student does on the images it trained on: over- or under-fitting
        held = train_imgs
    if not held:
        _log(f"evaluate: {args.data} has no {args.split} images")
        return 2
    ev = Evaluator(teacher, _frames(teacher, held, device), batch=_eval_batch(args.batch, device),
                   gt_threshold=args.gt_threshold)
    calibration = ev.calibration()
    _log(f"{len(held)} {args.split} frames, {ev.objects} reference objects; calibration "
         f"{ {k: v for k, v in calibration.items() if not isinstance(v, dict)} }")
    by_source = _objects_by_source(args.data, args.split, ev, args.heldout_limit)
    for src, counts in by_source.items():
        _log(f"  {src}: {counts['images']} images, objects {counts['objects']}")
    if args.points:
        rows = ev.rows(student, _points(args.points), log=_log)
    else:
        rows = ev.table(student, range(1, student.members + 1), (1, 2, 3, 4), log=_log)
    if args.out:
        from .report import _named as names

        def named(r):  # class numbers -> names; AP rounded, counts kept
            return {k: (names(v, int) if k in ("objects", "objects_per_class") else names(v) if
                        k.endswith("per_class") else v) for k, v in r.items()}
        out = {"weights": os.path.relpath(os.path.abspath(args.weights), paths.kRepoRoot),
               "data": os.path.relpath(os.path.abspath(args.data), paths.kRepoRoot), "split": args.split,
               "command": args.command_line,
               "images": len(held), "reference_objects": ev.objects,
               "calibration": named(calibration),
               "objects_per_source": by_source, "rows": [named(r) for r in rows]}
        with open(args.out, "w") as f:
            json.dump(_nan_to_none(out), f, indent=1)
            f.write("\n")
    return 0


def _nan_to_none(x):
    """JSON has no NaN (a major_map over no class with 10 objects)."""
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return None if isinstance(x, float) and x != x else x


def _objects_by_source(data_dir, split, ev, limit):
    """Per package of a prepared folder's images of one split: how many images, and reference objects per class."""
    from .centernet import kCocoClasses
    from .wide import source_of
    path = os.path.join(data_dir, "manifest.json")
    if not ev.detector or not os.path.exists(path):
        return {}
    with open(path) as f:
        entries = json.load(f)[split][:limit]
    out = {}
    for e, g in zip(entries, ev.gt):
        c = out.setdefault(source_of(e), {"images": 0, "objects": {}})
        c["images"] += 1
        for k in g["classes"].tolist():
            c["objects"][kCocoClasses[k]] = c["objects"].get(kCocoClasses[k], 0) + 1
    return out


def cmd_spread(args):
    """How far apart two rows must be to differ: per weights file and (s, b), held-out mAP, its bootstrap spread
    over image resamples, and with two or more files (seeds) the spread between them."""
    device = _device(args.device)
    torch.set_num_threads(thread_count(args.threads))
    from slimcodec_ref import load_safetensors
    size = json.loads(load_safetensors(args.weights[0])[1].get("teacher_input", "[512, 512]"))[0]
    teacher = _teacher(args.teacher, size, device)
    _, held = _images(args.data, None, None)
    ev = Evaluator(teacher, _frames(teacher, held, device), batch=_eval_batch(args.batch, device),
                   gt_threshold=args.gt_threshold)
    out = {"heldout_images": len(held), "reference_objects": ev.objects, "rows": [], "command": args.command_line}
    points = _points(args.points)
    against = _points(args.against)[0] if args.against else None
    if against is not None:
        out["against"] = {"s": against[0], "b": against[1]}
    students = [load_student(w).to(device) for w in args.weights]
    baselines = [ev.predictions(st, *against) if against else None for st in students]
    for s_, b_ in points:
        row = {"s": s_, "b": b_, "weights": []}
        for w, st, base in zip(args.weights, students, baselines):
            preds = ev.predictions(st, s_, b_)
            r = ev.score(preds)
            row["weights"].append({"file": os.path.relpath(w, paths.kRepoRoot), "map": r["map"],
                                   "major_map": r["major_map"], **ev.bootstrap(preds, args.resamples, baseline=base)})
        maps = [r["map"] for r in row["weights"]]
        row["seed_range"] = max(maps) - min(maps)
        out["rows"].append(row)
        _log(f"s={s_} b={b_}: " + ", ".join(
            f"{r['map']:.2f} (sd {r['map_std']:.2f}), major_map {r['major_map']:.2f} (sd {r['major_map_std']:.2f})"
            + (f", minus s={against[0]} b={against[1]}: 90% of draws in [{r['major_map_diff_p05']:+.2f}, "
               f"{r['major_map_diff_p95']:+.2f}], above zero in {100 * r['major_map_diff_above_zero']:.0f}%"
               if against else "") for r in row["weights"])
            + (f"; range over files {row['seed_range']:.2f}" if len(maps) > 1 else ""))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    return 0


def cmd_export(args):
    from slimcodec_ref import load_safetensors
    weights = args.weights
    if weights is None:  # the weights the C++ end-to-end fixture was made from
        from . import fixture
        _, fmeta = load_safetensors(os.path.join(fixture.kFixtureDir, "e2e_reference.safetensors"))
        weights = os.path.join(paths.kRepoRoot, fmeta["weights"])
    student = load_student(weights)
    _, meta = load_safetensors(weights)
    size = args.input_size or json.loads(meta.get("teacher_input", "[512, 512]"))[0]
    teacher = _teacher(args.teacher, size, torch.device("cpu"))
    export_torchscript(student, teacher, args.out, log=_log)
    return 0


def cmd_coded_bytes(args):
    """Refits the codec-1 tables on the training images with the C++ tool and adds the held-out coded bytes per
    (s, b) to an accuracy table (JSON, Markdown and plot rewritten)."""
    import subprocess
    from .report import add_coded_bytes, parse_fit_log, rewrite
    cmd = [args.tool, "--weights", args.weights, "--images", os.path.join(args.data, "train"), "--eval",
           os.path.join(args.data, "heldout"), "--table-id", str(args.table_id), "--bits", "1-4", "--out", args.out]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    _log(text)
    ratios = parse_fit_log(text)
    if len(ratios) != 16:
        raise RuntimeError(f"expected 16 (s, b) rows from {args.tool}, read {len(ratios)}")
    with open(args.table) as f:
        table = json.load(f)
    shown = ["slimcodec-fit-entropy-tables"] + [os.path.relpath(c, paths.kRepoRoot) if os.path.isabs(c) else c
                                               for c in cmd[1:]]
    add_coded_bytes(table, ratios, " ".join(shown))
    with open(args.table, "w") as f:
        json.dump(table, f, indent=1)
        f.write("\n")
    rewrite(args.table, args.title)
    return 0


def cmd_check_teacher(args):
    from . import check_teacher
    return check_teacher.main(args)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="training/train.py", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("prepare-data", help="collect Debian-shipped photos and video frames (and folders)")
    p.add_argument("--out", default=None, help=f"default: {os.path.relpath(paths.kDefaultDataDir, paths.kRepoRoot)}, "
                   f"with --wide {os.path.relpath(paths.kWideDataDir, paths.kRepoRoot)}")
    p.add_argument("--wide", action="store_true", help="the wider held-out set instead: photos and videos from other "
                   "Debian and npm packages, all held out (training/slimtrain/wide.py)")
    p.add_argument("--extra", action="store_true", help="also add training images from two more Debian packages "
                   "(people, cars, animals, objects; training/slimtrain/wide.py); the held-out split is unchanged")
    p.add_argument("--cache", default=os.path.join(paths.kRepoRoot, "build", "wide-cache"),
                   help="--wide, --extra: where the packages are downloaded and unpacked")
    p.add_argument("--frames-per-video", type=int, default=8, help="--wide, --extra: frames taken from each video")
    p.add_argument("--folder", action="append", default=[], help="also take every image under this folder")
    p.add_argument("--no-debian", action="store_true", help="only the --folder images")
    p.add_argument("--max-side", type=int, default=640)
    p.add_argument("--video-every", type=int, default=8)
    p.add_argument("--heldout-fraction", type=float, default=0.2)
    p.set_defaults(fn=cmd_prepare_data)

    p = sub.add_parser("run", help="cache targets, train (+ ablation), evaluate, export, write the table")
    p.add_argument("--preset", choices=sorted(kPresets), default="smoke")
    p.add_argument("--data", default=None, help="prepared folder, or 'skimage' (default: skimage for smoke, "
                                                "build/train-data for full)")
    p.add_argument("--out", default=None)
    p.add_argument("--name", default=None, help="suffix of the output files (default: the preset)")
    p.add_argument("--teacher", default="centernet")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", default="1", help="threads on the CPU (OpenMP, OpenBLAS, MKL): a number or 'auto' "
                                                   "(idle cores); set before torch loads")
    p.add_argument("--pin-core", default="auto", help="run on this one core; 'auto': the last core for the cpu "
                                                      "preset, unpinned otherwise; 'none'")
    p.add_argument("--proxy", choices=("ste", "noise"), default="ste",
                   help="quantizer proxy while training: straight-through hard quantizer, or uniform noise")
    p.add_argument("--variant", choices=("both", "noise", "ablation"), default="both",
                   help="train both (default), or only the main run or only the ablation")
    for k, t in (("steps", int), ("batch", int), ("lr", float), ("time-budget", float), ("views", int),
                 ("train-limit", int), ("heldout-limit", int)):
        p.add_argument("--" + k, type=t, default=None)
    p.add_argument("--amp", choices=("none", "bf16"), default=None)
    p.add_argument("--later-taps", default=None, help="comma-separated later taps to distil too, e.g. "
                                                      "expanded_conv_5/add,expanded_conv_11/add")
    p.add_argument("--output-weight", type=float, default=0.0,
                   help="also distil the teacher's heatmaps and boxes through its frozen tail, with this weight "
                        "(whole views only; about doubles a step's cost)")
    p.add_argument("--output-heat", choices=("kl", "mse"), default="kl",
                   help="how --output-weight compares the heatmaps: Bernoulli KL per score over the teacher's score "
                        "mass (default), or MSE over the mean square")
    p.add_argument("--gt-threshold", type=float, default=0.3)
    p.add_argument("--no-ablation", action="store_true")
    p.add_argument("--skip-without-teacher", action="store_true", help="exit 77 (CTest: skipped) when the teacher's "
                                                                      "files are missing")
    p.add_argument("--no-torchscript", action="store_true")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoints in --out")
    p.add_argument("--save-cache", action="store_true", help="keep the target cache in --out (for --resume)")
    p.add_argument("--publish", action="store_true", help="copy weights to training/weights, table to docs/")
    p.add_argument("--check-loss-falls", type=float, default=0.0, metavar="RATIO",
                   help="fail unless every size's probe loss ends below RATIO x its value before training")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("publish", help="copy a run's weights and table into the repository, write the fixture")
    p.add_argument("src", help="folder with slimcodec-NAME.safetensors and accuracy-NAME.{json,md,png}")
    p.add_argument("--name", default="centernet-256")
    p.add_argument("--teacher", default="centernet")
    p.set_defaults(fn=cmd_publish)

    p = sub.add_parser("evaluate", help="evaluate saved weights on the held-out images")
    p.add_argument("--weights", required=True)
    p.add_argument("--data", default=paths.kDefaultDataDir)
    p.add_argument("--teacher", default="centernet")
    p.add_argument("--input-size", type=int, default=0, help="teacher input side (default: from the weights)")
    p.add_argument("--heldout-limit", type=int, default=None, help="at most this many images")
    p.add_argument("--split", choices=("heldout", "train"), default="heldout",
                   help="train: score on the training images instead (over- or under-fitting)")
    p.add_argument("--batch", type=int, default=None, help="views per call (default: 1 on a CPU, 8 on a GPU)")
    p.add_argument("--gt-threshold", type=float, default=0.3)
    p.add_argument("--device", default="auto")
    p.add_argument("--points", default=None, help="only these (s, b), e.g. '4,4;1,4;4,fp32' (default: all)")
    p.add_argument("--out", default=None, help="write the rows, calibration and objects per source as JSON")
    p.set_defaults(fn=cmd_evaluate)

    p = sub.add_parser("spread", help="held-out mAP spread: bootstrap over images, and between weight files (seeds)")
    p.add_argument("weights", nargs="+")
    p.add_argument("--points", default="1,2;1,4;4,2;4,4", help="(s, b) pairs, e.g. '1,2;4,4'")
    p.add_argument("--resamples", type=int, default=200)
    p.add_argument("--batch", type=int, default=None, help="views per call (default: 1 on a CPU, 8 on a GPU)")
    p.add_argument("--against", default=None, help="one (s, b): each row also gets its paired bootstrap "
                   "difference from it, e.g. '1,2'")
    p.add_argument("--data", default=paths.kDefaultDataDir)
    p.add_argument("--teacher", default="centernet")
    p.add_argument("--gt-threshold", type=float, default=0.3)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", default="1")
    p.add_argument("--out", default=None, help="write the rows as JSON")
    p.set_defaults(fn=cmd_spread)

    p = sub.add_parser("export", help="TorchScript teacher tail and server side for saved weights")
    p.add_argument("--weights", default=None, help="default: the weights of the C++ end-to-end fixture")
    p.add_argument("--out", required=True)
    p.add_argument("--teacher", default="centernet")
    p.add_argument("--input-size", type=int, default=0, help="teacher input side (default: from the weights)")
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("coded-bytes", help="refit codec-1 tables and add the coded bytes per (s, b) to a table")
    p.add_argument("--tool", required=True, help="the built slimcodec-fit-entropy-tables")
    p.add_argument("--weights", required=True)
    p.add_argument("--table", required=True, help="accuracy-NAME.json to extend (Markdown and plot rewritten)")
    p.add_argument("--title", default="slimcodec accuracy (cpu scale): centernet-mobilenetv3, 256x256 encoder input")
    p.add_argument("--out", required=True, help="the tables file to write (*.entropy.safetensors)")
    p.add_argument("--data", default=paths.kDefaultDataDir)
    p.add_argument("--table-id", type=int, default=2)
    p.set_defaults(fn=cmd_coded_bytes)

    p = sub.add_parser("check-teacher", help="compare the torch loader with TFJS (WASM) or the stored reference")
    p.add_argument("--node-modules", default=os.path.join(paths.kRepoRoot, "build", "teacher", "node_modules"),
                   help="where @tensorflow/tfjs-* are installed (scripts/fetch-teacher --with-tfjs)")
    p.add_argument("--write-reference", action="store_true", help="rewrite the stored reference from TFJS")
    p.set_defaults(fn=cmd_check_teacher)

    args = ap.parse_args(argv)
    args.command_line = "training/train.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.cmd == "run":
        if args.data is None:
            args.data = "skimage" if args.preset == "smoke" else paths.kDefaultDataDir
        if args.out is None:
            args.out = os.path.join(paths.kRepoRoot, "build", "training", args.preset)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
