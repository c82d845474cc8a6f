#!/usr/bin/env python3
"""Plots a slimcodec-adaptive-demo run: for each deadline, the link's rate and the controller's estimate, the chosen
configuration (s and b) and the round-trip time against the deadline, over trace time.

Usage: scripts/plot_adaptive.py --frames OUT/frames.csv --trace OUT/trace.csv --out OUT/adaptive.png
Needs Debian's python3-matplotlib (the system /usr/bin/python3).
"""
import argparse
import csv
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_adaptive.py: matplotlib is missing (Debian: apt-get install python3-matplotlib)")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", required=True, help="frames.csv written by the demo")
    ap.add_argument("--trace", required=True, help="trace.csv: the segment that was played")
    ap.add_argument("--out", required=True, help="PNG to write")
    args = ap.parse_args()

    frames = read_csv(args.frames)
    trace = read_csv(args.trace)
    if not frames:
        sys.exit("plot_adaptive.py: no frames in " + args.frames)
    deadlines = sorted({float(r["deadline_ms"]) for r in frames})
    tt = [float(r["time_s"]) for r in trace]
    tr = [float(r["bytes_per_s"]) / 1e3 for r in trace]

    fig, axes = plt.subplots(3, len(deadlines), figsize=(5.2 * len(deadlines), 8.5), sharex=True, squeeze=False)
    for col, deadline in enumerate(deadlines):
        rows = [r for r in frames if float(r["deadline_ms"]) == deadline]
        t = [float(r["start_s"]) for r in rows]
        hits = [r["deadline_met"] == "1" for r in rows]
        rate_ax, cfg_ax, rtt_ax = axes[0][col], axes[1][col], axes[2][col]

        rate_ax.step(tt, tr, where="post", color="0.6", lw=1, label="link (trace)")
        rate_ax.plot(t, [float(r["estimate_Bps"]) / 1e3 for r in rows], ".", ms=3, color="tab:blue",
                     label="conservative estimate")
        rate_ax.set_ylabel("kB/s")
        rate_ax.set_ylim(bottom=0)
        n = len(rows)
        rate = 100.0 * sum(hits) / n
        acc = sum(float(r["accuracy"]) for r in rows) / n
        rate_ax.set_title(f"deadline {deadline:g} ms: {rate:.1f} % hits, mean accuracy {acc:.1f}", fontsize=10)
        rate_ax.legend(loc="upper right", fontsize=7)

        cfg_ax.step(t, [int(r["b"]) for r in rows], where="post", color="tab:orange", label="b (bits)")
        cfg_ax.step(t, [int(r["s"]) + 0.08 for r in rows], where="post", color="tab:green", label="s (members)")
        cfg_ax.set_ylim(0.5, 4.5)
        cfg_ax.set_yticks([1, 2, 3, 4])
        cfg_ax.set_ylabel("configuration")
        cfg_ax.legend(loc="upper right", fontsize=7)

        rtt = [float(r["rtt_ms"]) for r in rows]
        rtt_ax.plot([x for x, h in zip(t, hits) if h], [y for y, h in zip(rtt, hits) if h], ".", ms=3,
                    color="tab:green", label="hit")
        rtt_ax.plot([x for x, h in zip(t, hits) if not h], [y for y, h in zip(rtt, hits) if not h], "x", ms=5,
                    color="tab:red", label="miss")
        rtt_ax.plot(t, [float(r["model_rtt_ms"]) for r in rows], "-", lw=0.6, color="0.5", label="latency model")
        rtt_ax.axhline(deadline, color="tab:red", lw=0.8, ls="--")
        rtt_ax.set_ylabel("RTT ms")
        rtt_ax.set_xlabel("trace time s")
        rtt_ax.set_ylim(0, max(max(rtt), deadline) * 1.1)
        rtt_ax.legend(loc="lower right", fontsize=7)
    fig.suptitle("slimcodec adaptive runtime: emulated RPi-class device, shaped Bluetooth-class link (real time)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print("wrote " + args.out)


if __name__ == "__main__":
    main()
