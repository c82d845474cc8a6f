#!/usr/bin/python3
"""One training step on the CPU under four allocator settings, in the same run: glibc as it comes, glibc told to keep
freed memory (mmap only above 32 MiB, never trim), jemalloc that keeps freed pages (train.py's default), and jemalloc
that returns them after 10 s.

Each allocator runs in its own child process (one thread, thread variables set before torch loads): one warm-up
sandwich step (s = 1, 2, 4; 16 crops of 64x64; straight-through quantizer at b = 2), then `--steps` timed steps.
Prints wall, user and system seconds, page faults per step and peak RSS, and each setting's ratios against glibc.
    /usr/bin/python3 bench/bench_training_step.py [--steps 4] [--core N]
"""
import argparse
import json
import os
import subprocess
import sys

kRoot = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(steps: int):
    import resource
    import time
    sys.path.insert(0, os.path.join(kRoot, "training"))
    import torch
    import torch.nn.functional as F
    from slimtrain.student import Student
    torch.manual_seed(0)
    st = Student()
    opt = torch.optim.Adam(st.parameters(), 1e-3)
    x, t = torch.randn(16, 3, 64, 64), torch.randn(16, 24, 32, 32)

    def step():
        for s in (1, 2, 4):
            F.mse_loss(st(x, s, 2, "ste"), t).backward()
        opt.step()
        opt.zero_grad()

    step()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    for _ in range(steps):
        step()
    r1, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - t0
    print(json.dumps({"wall": wall / steps, "user": (r1.ru_utime - r0.ru_utime) / steps,
                      "system": (r1.ru_stime - r0.ru_stime) / steps, "faults": (r1.ru_minflt - r0.ru_minflt) / steps,
                      "peak_mib": r1.ru_maxrss / 1024}))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--core", type=int, default=None, help="pin both runs to this core")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.steps)
    sys.path.insert(0, os.path.join(kRoot, "training"))
    from slimtrain.threads import kJemalloc
    lib = next((p for p in kJemalloc if os.path.exists(p)), None)
    if lib is None:
        sys.exit("jemalloc not found (Debian: apt-get install libjemalloc2)")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("LD_PRELOAD", None)
    pin = ["taskset", "-c", str(args.core)] if args.core is not None else []
    cmd = pin + [sys.executable, os.path.abspath(__file__), "--child", "--steps", str(args.steps)]
    keep = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}
    settings = (("glibc", {}), ("glibc-keep", keep),
                ("jemalloc-keep", {"LD_PRELOAD": lib, "MALLOC_CONF": "dirty_decay_ms:-1,muzzy_decay_ms:-1"}),
                ("jemalloc-10s", {"LD_PRELOAD": lib, "MALLOC_CONF": "dirty_decay_ms:10000,muzzy_decay_ms:10000"}))
    runs = {}
    for name, extra in settings:
        out = subprocess.run(cmd, env={**env, **extra}, check=True, capture_output=True, text=True).stdout
        runs[name] = json.loads(out.strip().splitlines()[-1])
        r = runs[name]
        print(f"{name:14s} wall {r['wall']:.2f} s/step, user {r['user']:.2f}, system {r['system']:.2f}, "
              f"page faults {r['faults']:.0f}, peak RSS {r['peak_mib']:.0f} MiB")
    g = runs["glibc"]
    for name, r in runs.items():
        if name != "glibc":
            print(f"{name} / glibc: wall {r['wall'] / g['wall']:.2f}x, CPU (user + system) "
                  f"{(r['user'] + r['system']) / (g['user'] + g['system']):.2f}x")

if __name__ == "__main__":
    main()
