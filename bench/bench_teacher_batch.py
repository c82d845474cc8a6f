#!/usr/bin/python3
"""The teacher on 512x512 views, one thread, at several batch sizes in the same run: what the target cache and the
evaluation pay per view.

Each batch size runs in its own child process under training's allocator setting (glibc keeping freed memory: mmap
only above 32 MiB, never trim; thread variables set before torch loads): one warm-up call, then `--views` views
through the teacher's head and tail. Prints seconds, user and system time and page faults per view, and each batch
size's wall-time ratio against batch 1. Needs the teacher (scripts/fetch-teacher).
    /usr/bin/python3 bench/bench_teacher_batch.py [--views 16] [--batches 1,2,4,8] [--core N]
"""
import argparse
import json
import os
import subprocess
import sys

kRoot = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(views: int, batch: int):
    import resource
    import time
    sys.path.insert(0, os.path.join(kRoot, "training"))
    import torch
    from slimtrain.teacher import load_teacher
    torch.set_num_threads(1)
    teacher = load_teacher("centernet")
    x = torch.rand(views, 3, 512, 512, generator=torch.Generator().manual_seed(0)) * 255
    with torch.no_grad():
        teacher.tail(teacher.head(x[:batch]))
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        for i in range(0, views, batch):
            teacher.tail(teacher.head(x[i:i + batch]))
    r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    print(json.dumps({"wall": wall / views, "user": (r1.ru_utime - r0.ru_utime) / views,
                      "system": (r1.ru_stime - r0.ru_stime) / views, "faults": (r1.ru_minflt - r0.ru_minflt) / views}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=16)
    ap.add_argument("--batches", default="1,2,4,8")
    ap.add_argument("--core", type=int, default=None, help="pin every run to this core")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        return child(args.views, args.child)
    sys.path.insert(0, os.path.join(kRoot, "training"))
    from slimtrain.threads import kGlibcKeep
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **kGlibcKeep}
    env.pop("LD_PRELOAD", None)
    pin = ["taskset", "-c", str(args.core)] if args.core is not None else []
    runs = {}
    for batch in (int(b) for b in args.batches.split(",")):
        cmd = pin + [sys.executable, os.path.abspath(__file__), "--child", str(batch), "--views", str(args.views)]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"batch {batch} failed: {r.stderr.strip()[-400:]}")
        runs[batch] = json.loads(r.stdout.strip().splitlines()[-1])
        m = runs[batch]
        print(f"batch {batch}: {m['wall']:.3f} s/view, user {m['user']:.3f}, system {m['system']:.3f}, "
              f"page faults {m['faults']:.0f}", flush=True)
    base = runs[min(runs)]
    for batch, m in runs.items():
        print(f"batch {batch} / batch {min(runs)}: wall {m['wall'] / base['wall']:.2f}x")


if __name__ == "__main__":
    main()
