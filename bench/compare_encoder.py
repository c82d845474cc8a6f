#!/usr/bin/env python3
"""Encoder speed against LibTorch and ONNX Runtime on the same model, measured in the same run.

Runs, in interleaved rounds: our bench_encoder (s = 1..4, one thread), the exported TorchScript encoders on
LibTorch (one thread) and the exported ONNX encoders on ONNX Runtime (one intra-op thread); prints median ms per
s and the ratios, then the peak RSS of a process that encodes 100 frames. Stdlib only.
Usage: compare_encoder.py BUILD_DIR LIBTORCH_TIMER MODELS_DIR ORT_DIR [rounds]
"""
import json
import statistics
import subprocess
import sys


def run_json_lines(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def ours(build):
    out = subprocess.run([f"{build}/bench/bench_encoder", "--benchmark_filter=BM_PaperEncoder/s:./threads:1$",
                          "--benchmark_format=json", "--benchmark_min_time=1"],
                         check=True, capture_output=True, text=True).stdout
    result = {}
    for b in json.loads(out)["benchmarks"]:
        s = int(b["name"].split("s:")[1].split("/")[0])
        result[s] = b["real_time"] if b["time_unit"] == "ms" else b["real_time"] / 1e6
    return result


def main():
    build, timer, models, ort_dir = sys.argv[1:5]
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 3
    times = {name: {s: [] for s in range(1, 5)} for name in ("slimcodec", "libtorch", "onnxruntime")}
    for r in range(rounds):
        for s, ms in ours(build).items():
            times["slimcodec"][s].append(ms)
        for rec in run_json_lines([timer, "3", "384", "384", "30"] + [f"{models}/encoder_s{s}.pt" for s in range(1, 5)]):
            times["libtorch"][int(rec["model"].split("_s")[1][0])].append(rec["median_ms"])
        for s in range(1, 5):
            rec = run_json_lines(["node", f"{ort_dir}/time_model.js", f"{models}/encoder_s{s}.onnx", "50"])[0]
            times["onnxruntime"][s].append(rec["median_ms"])
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    med = {k: {s: statistics.median(v) for s, v in d.items()} for k, d in times.items()}
    print("encoder 3x384x384 -> 6x96x96, one thread, median of per-round medians (ms); ratios = baseline / slimcodec")
    print(f"{'s':>2} {'slimcodec':>10} {'LibTorch':>10} {'ORT':>10} {'LibTorch/ours':>14} {'ORT/ours':>9}")
    for s in range(1, 5):
        a, t, o = med["slimcodec"][s], med["libtorch"][s], med["onnxruntime"][s]
        print(f"{s:>2} {a:>10.3f} {t:>10.3f} {o:>10.3f} {t / a:>13.2f}x {o / a:>8.2f}x")
    rss = run_json_lines([f"{build}/bench/peak_rss_encoder"])[0]
    print(f"peak RSS encoding 100 frames (s=4): {rss['peak_rss_mib']:.2f} MiB total, "
          f"{rss['above_start_and_inputs_mib']:.2f} MiB above process start and input buffers "
          f"(encoder weights + scratch: {rss['encoder_memory_mib']:.2f} MiB)")


if __name__ == "__main__":
    main()
