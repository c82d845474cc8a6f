#!/usr/bin/env python3
"""The Python module's cost per frame against the same C++ call in the same run (same build, same process).

The C++ side is slimcodec::decode_frame (parse + CRC + dequantize) in a C++ loop (_cpp_decode_seconds, the GIL
released around the whole loop); the Python side calls the module once per frame from a Python loop. Rounds
alternate between the two and the ratio is the median over rounds of (Python / C++). Goal: a 4-bit s4
frame (6 x 96 x 96) parsed and dequantized within 1.2x of C++.

Usage: PYTHONPATH=BUILD/python bench/bench_python.py [--rounds N] [--seconds S]   (scripts/bench python)
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

import slimcodec as sc

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
TABLES = os.path.join(ROOT, "training", "weights", "slimcodec-centernet-256-cpu.entropy.safetensors")


def per_call(fn, seconds):
    """Seconds per call of fn(), timed over about `seconds` (calibrated)."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return elapsed / n
        n = max(2 * n, int(n * seconds / max(elapsed, 1e-6) * 1.1))


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.2, help="timing per measurement")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    latent = (rng.standard_normal((6, 96, 96)) * 0.8).astype(np.float32)
    out = np.empty(latent.shape, np.float32)
    cases = []
    for bits in (1, 4, 8):
        cases.append((f"codec 0, s4 b{bits}", sc.encode_frame(latent, s=4, bits=bits), None))
    if os.path.exists(TABLES):
        tables = sc.EntropyTables.load(TABLES)
        for bits in (2, 4):
            frame = sc.encode_frame(latent, s=4, bits=bits, tables=tables)
            if sc.parse_frame(frame).codec == sc.Codec.rans:
                cases.append((f"codec 1, s4 b{bits}", frame, tables))

    print(f"slimcodec Python module vs C++ decode_frame, 6 x 96 x 96, median of {args.rounds} rounds "
          f"(per frame, microseconds)")
    print(f"{'frame':18} {'bytes':>6} {'C++':>8} {'decode_frame(out=)':>19} {'ratio':>6} "
          f"{'decode_frame()':>15} {'ratio':>6} {'parse+values':>13} {'ratio':>6} {'FrameParser':>12} {'ratio':>6}")
    goal = None
    for name, frame, tables in cases:
        parser = sc.FrameParser(tables=tables)
        calls = {
            "out": lambda: sc.decode_frame(frame, tables=tables, out=out),
            "alloc": lambda: sc.decode_frame(frame, tables=tables),
            "parse": lambda: sc.parse_frame(frame, tables=tables).values(out=out),
            "stream": lambda: parser.feed(frame)[0].values(out=out),
        }
        cpp, py, ratios = [], {k: [] for k in calls}, {k: [] for k in calls}
        for _ in range(args.rounds):
            iters = max(10, int(args.seconds / max(sc._cpp_decode_seconds(frame, out, 10, tables), 1e-7)))
            c = sc._cpp_decode_seconds(frame, out, iters, tables)
            cpp.append(c)
            for k, fn in calls.items():
                t = per_call(fn, args.seconds)
                py[k].append(t)
                ratios[k].append(t / c)
        med = {k: statistics.median(v) for k, v in ratios.items()}
        us = lambda v: statistics.median(v) * 1e6  # noqa: E731
        print(f"{name:18} {len(frame):6d} {us(cpp):8.1f} {us(py['out']):19.1f} {med['out']:6.3f} "
              f"{us(py['alloc']):15.1f} {med['alloc']:6.3f} {us(py['parse']):13.1f} {med['parse']:6.3f} "
              f"{us(py['stream']):12.1f} {med['stream']:6.3f}")
        if name == "codec 0, s4 b4":
            goal = med["out"]
    print(f"\ngoal: 4-bit s4 frame parsed and dequantized within 1.2x of C++: decode_frame(out=) {goal:.3f}x "
          f"({'met' if goal <= 1.2 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
