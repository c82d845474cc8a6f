#!/usr/bin/python3
"""slimcodec-device as a user runs it: against slimcodec-decode-service on loopback, from a short clip
that FFmpeg makes here. Standard library only.

  device_program.py CASE DEVICE SERVICE SOURCE_DIR

CASE: loopback (every JSONL line parses, frame count and (s, b, codec) right, each reply answers its frame; fixed,
adaptive, codec 1 and raw stdin), sigint (SIGINT mid-stream: exit 0, complete JSONL, an annotated video that
ffprobe reads to its last frame), reconnect (the service killed
and restarted mid-run: the device says so, reconnects and goes on), bad_inputs (one clear line, non-zero exit), mqtt
(the same frames through a mosquitto broker to an MQTT worker; skipped, exit 77, without the broker), cross (an
aarch64 build of the device, $SLIMCODEC_DEVICE_AARCH64, under qemu-user against the x86 service: the same replies
as the x86 device's on the same raw frames; skipped without it).
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CASE, DEVICE, SERVICE, SRC = sys.argv[1:5]
WEIGHTS = os.path.join(SRC, "training/weights/slimcodec-centernet-256-cpu.safetensors")
TABLES = os.path.join(SRC, "training/weights/slimcodec-centernet-256-cpu.entropy.safetensors")
ACCURACY = os.path.join(SRC, "docs/accuracy-centernet-256-cpu.json")
TMP = tempfile.mkdtemp(prefix="slimcodec-device-test-")
atexit.register(shutil.rmtree, TMP, True)
W, H = 160, 120  # the clip's size; boxes and "width"/"height" are in these pixels
SIZE = "64"      # model input side: small, so the test takes seconds


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def make_clip(name, frames, rate=10):
    path = os.path.join(TMP, name)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size={W}x{H}:rate={rate}",
                    "-frames:v", str(frames), "-c:v", "mpeg4", "-q:v", "5", path], check=True)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(port=0, tables=None):
    cmd = [SERVICE, "--port", str(port), "--backend", "identity", "--workers", "1", "--io-threads", "1"]
    if tables:
        cmd += ["--entropy-tables", tables]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = p.stdout.readline()
    m = re.search(r"listening on [^:]+:(\d+)", line)
    if not m:
        p.kill()
        fail(f"service did not start: {line!r}")
    return p, int(m.group(1))


def stop_service(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()


def parse_jsonl(text, what):
    """Every line parses; frames first, one summary last. Returns (frames, summary)."""
    lines = text.splitlines()
    if not lines:
        fail(f"{what}: no output")
    records = []
    for i, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            fail(f"{what}: line {i + 1} is not JSON ({e}): {line!r}")
    *frames, summary = records
    if not summary.get("summary"):
        fail(f"{what}: the last line is not the summary: {lines[-1]!r}")
    if any(r.get("summary") for r in frames):
        fail(f"{what}: a summary before the end")
    if summary["frames"] != len(frames):
        fail(f"{what}: summary says {summary['frames']} frames, {len(frames)} lines")
    return frames, summary


def check_frames(frames, what, indices=None, configs=None, codecs=(0,), answered=True):
    last_id = 0
    for r in frames:
        for key in ("frame", "pts_s", "frame_id", "s", "b", "codec", "bytes", "rtt_ms", "deadline_met", "status",
                    "detections", "width", "height"):
            if key not in r:
                fail(f"{what}: frame line without {key}: {r}")
        if r["frame_id"] <= last_id:
            fail(f"{what}: frame ids not increasing: {r['frame_id']} after {last_id}")
        last_id = r["frame_id"]
        if configs is not None and (r["s"], r["b"]) not in configs:
            fail(f"{what}: (s, b) = ({r['s']}, {r['b']}) not among {sorted(configs)}")
        if r["codec"] not in codecs:
            fail(f"{what}: codec {r['codec']} not in {codecs}")
        if (r["width"], r["height"]) != (W, H):
            fail(f"{what}: frame size {r['width']}x{r['height']}, the clip is {W}x{H}")
        if answered:
            if r["status"] != "ok":
                fail(f"{what}: frame {r['frame']} answered {r['status']}")
            # The reply that answers a frame echoes its timestamp (and came with its frame id: the loop matched it).
            if r["reply_timestamp_us"] != r["timestamp_us"] or r["digest"] == "0000000000000000":
                fail(f"{what}: frame {r['frame']}: the reply is not this frame's: {r}")
        if r["bytes"] <= 0:
            fail(f"{what}: frame {r['frame']} has {r['bytes']} bytes")
    if indices is not None and [r["frame"] for r in frames] != list(indices):
        fail(f"{what}: frame indices {[r['frame'] for r in frames]}, want {list(indices)}")


def rss_kib(pid):
    """The process's resident set (VmRSS), KiB; 0 once it has gone."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_device(args, stdin=None, timeout=120):
    p = subprocess.run([DEVICE, "--quiet", "--size", SIZE] + args, input=stdin, capture_output=True,
                       timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def loopback():
    clip = make_clip("clip.avi", 20)
    svc, port = start_service(tables=TABLES)
    server = ["--server", f"127.0.0.1:{port}"]
    try:
        # Fixed (s, b): 20 frames, each answered by its own reply.
        rc, out, err = run_device(["-i", clip, "--fixed", "2,3"] + server)
        if rc != 0:
            fail(f"fixed: exit {rc}: {err}")
        frames, summary = parse_jsonl(out, "fixed")
        check_frames(frames, "fixed", indices=range(20), configs={(2, 3)})
        if summary["answered"] != 20 or summary["rtt_p50_ms"] <= 0:
            fail(f"fixed: summary {summary}")
        print(f"ok: fixed s=2 b=3: 20 frames, mean {summary['mean_bytes']} B, p50 {summary['rtt_p50_ms']} ms")

        # The adaptive controller over the published table, every 2nd frame.
        table = json.load(open(ACCURACY))
        allowed = {(c["s"], c["b"]) for c in table["configurations"]}
        rc, out, err = run_device(["-i", clip, "--deadline-ms", "2000", "--every", "2", "--accuracy", ACCURACY] + server)
        if rc != 0:
            fail(f"adaptive: exit {rc}: {err}")
        frames, summary = parse_jsonl(out, "adaptive")
        check_frames(frames, "adaptive", indices=range(0, 20, 2), configs=allowed)
        print(f"ok: adaptive: 10 frames, configurations {sorted({(r['s'], r['b']) for r in frames})}, "
              f"{summary['hits']} hits")

        # Entropy-coded frames (codec 1 where smaller) with the published tables, which the service also has.
        rc, out, err = run_device(["-i", clip, "--fixed", "4,2", "--frames", "5", "--entropy-tables", TABLES] + server)
        if rc != 0:
            fail(f"codec 1: exit {rc}: {err}")
        frames, summary = parse_jsonl(out, "codec 1")
        check_frames(frames, "codec 1", indices=range(5), configs={(4, 2)}, codecs=(0, 1))
        print(f"ok: codec 1: codecs {sorted({r['codec'] for r in frames})}, mean {summary['mean_bytes']} B")

        # Raw RGB24 on stdin: the board's own capture.
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", clip, "-frames:v", "6", "-f", "rawvideo", "-pix_fmt",
                              "rgb24", "-"], capture_output=True, check=True).stdout
        rc, out, err = run_device(["-i", "-", "--video-size", f"{W}x{H}", "--framerate", "10", "--fixed", "1,4"] +
                                  server, stdin=raw)
        if rc != 0:
            fail(f"stdin: exit {rc}: {err}")
        frames, _ = parse_jsonl(out, "stdin")
        check_frames(frames, "stdin", indices=range(6), configs={(1, 4)})
        if abs(frames[5]["pts_s"] - 0.5) > 1e-6:
            fail(f"stdin: frame 5 at {frames[5]['pts_s']} s, want 0.5")
        print("ok: raw stdin: 6 frames")
    finally:
        stop_service(svc)


def sigint():
    clip = make_clip("long.avi", 300, rate=25)
    svc, port = start_service()
    try:
        out_path = os.path.join(TMP, "sigint.jsonl")
        video = os.path.join(TMP, "sigint.mp4")
        p = subprocess.Popen([DEVICE, "--quiet", "--size", SIZE, "-i", clip, "--live", "--fixed", "3,2", "--server",
                              f"127.0.0.1:{port}", "-o", out_path, "--video-out", video], stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while time.time() < deadline:  # wait for a few answered frames, then interrupt mid-stream
            if os.path.exists(out_path) and open(out_path).read().count("\n") >= 5:
                break
            if p.poll() is not None:
                fail(f"device ended early: {p.stderr.read().decode()}")
            time.sleep(0.05)
        p.send_signal(signal.SIGINT)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("no exit within 30 s of SIGINT")
        err = p.stderr.read().decode()
        if rc != 0:
            fail(f"exit {rc} after SIGINT: {err}")
        frames, summary = parse_jsonl(open(out_path).read(), "sigint")
        check_frames(frames, "sigint", configs={(3, 2)})
        if len(frames) >= 300:
            fail("SIGINT did not stop the device mid-stream")
        # The annotated video was closed properly: ffprobe reads every frame written, to the last.
        probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                "stream=nb_read_frames,width,height", "-of", "csv=p=0", video],
                               capture_output=True, text=True)
        if probe.returncode != 0 or probe.stdout.strip() != f"{W},{H},{len(frames)}":
            fail(f"the annotated video: ffprobe says {probe.stdout.strip()!r} {probe.stderr.strip()!r}, "
                 f"want {W},{H},{len(frames)}")
        print(f"ok: SIGINT after {len(frames)} frames: exit 0, complete JSONL, summary {summary}")
    finally:
        stop_service(svc)


def reconnect():
    clip = make_clip("paced.avi", 80, rate=10)  # 8 s played --live
    port = free_port()
    svc, _ = start_service(port)
    out_path = os.path.join(TMP, "reconnect.jsonl")
    p = subprocess.Popen([DEVICE, "--size", SIZE, "-i", clip, "--live", "--fixed", "2,2", "--reply-timeout-ms",
                          "1000", "--server", f"127.0.0.1:{port}", "-o", out_path], stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not (os.path.exists(out_path) and open(out_path).read().count("\n") >= 3):  # answers before the outage
        if time.time() > deadline or p.poll() is not None:
            fail("no answered frames before the outage")
        time.sleep(0.05)
    killed_at = len(open(out_path).read().splitlines())
    rss_before = rss_kib(p.pid)
    svc.kill()  # the service dies mid-run
    svc.wait()
    time.sleep(1.5)
    rss_outage = rss_kib(p.pid)
    svc, _ = start_service(port)  # and comes back on the same port
    try:
        rss_after = rss_outage
        while p.poll() is None and '"summary"' not in open(out_path).read():  # while it streams (not its exit)
            rss_after = max(rss_after, rss_kib(p.pid))
            time.sleep(0.1)
        rc = p.wait(timeout=60)
        err = p.stderr.read().decode()
        if rc != 0:
            fail(f"exit {rc}: {err}")
        frames, summary = parse_jsonl(open(out_path).read(), "reconnect")
        check_frames(frames, "reconnect", configs={(2, 2)}, answered=False)
        if "lost decode service" not in err or "reconnected" not in err or summary["reconnects"] < 1:
            fail(f"the device did not report the outage and the reconnection: {err} {summary}")
        before = [r for r in frames[:killed_at] if r["status"] == "ok"]
        after = [r for r in frames[killed_at + 1:] if r["status"] == "ok"]
        if not before or not after or summary["dropped_link"] < 1:
            fail(f"want answers before and after the outage and frames dropped during it: {summary}")
        # Nothing queues while the service is away (live frames are dropped) and a reconnection starts afresh.
        if max(rss_outage, rss_after) - rss_before > 8 * 1024:
            fail(f"memory grew: {rss_before} KiB before the outage, {rss_outage} during, {rss_after} after")
        print(f"ok: reconnect: {len(frames)} frames, {summary['dropped_link']} dropped while the service was away, "
              f"RSS {rss_before} / {rss_outage} / {rss_after} KiB before / during / after; "
              + " | ".join(l for l in err.splitlines() if "lost" in l or "reconnected" in l))
    finally:
        stop_service(svc)


def bad_inputs():
    truncated = os.path.join(TMP, "truncated.safetensors")
    with open(WEIGHTS, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read()[:5000])
    clip = make_clip("bad.avi", 2)
    out_path = os.path.join(TMP, "never.jsonl")
    cases = [
        (["-i", os.path.join(TMP, "missing.avi")], "missing file"),
        (["-i", "/dev/video99"], "absent camera"),
        (["-i", "http://127.0.0.1:1/none.mp4"], "unreachable URL"),
        (["-i", clip, "--weights", truncated], "truncated weights"),
        (["-i", clip, "--no-such-flag"], "unknown flag"),
        (["-i", clip, "--fixed", "5,2"], "bad --fixed"),
        (["-i", "-"], "stdin without --video-size"),
        (["-i", clip, "--video-out", os.path.join(TMP, "video.xyz")], "unknown video container"),
    ]
    for args, what in cases:
        p = subprocess.run([DEVICE] + args + ["-o", out_path], capture_output=True, timeout=60)
        lines = p.stderr.decode().strip().splitlines()
        if p.returncode == 0 or len(lines) != 1:
            fail(f"{what}: exit {p.returncode}, stderr {lines} (want non-zero and one line)")
        if os.path.exists(out_path):
            fail(f"{what}: output written")
        print(f"ok: {what}: exit {p.returncode}: {lines[0]}")


def mqtt():
    broker = "/usr/sbin/mosquitto"
    if not os.path.exists(broker):
        print("SKIP: no mosquitto broker")
        sys.exit(77)
    port = free_port()
    conf = os.path.join(TMP, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    mosq = subprocess.Popen([broker, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.time() + 20
        while True:  # the broker listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    fail("the broker did not start")
                time.sleep(0.05)
        worker = subprocess.Popen([SERVICE, "--mqtt", f"127.0.0.1:{port}", "--backend", "identity", "--workers", "1"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = worker.stdout.readline()
        if "subscribed" not in line:
            fail(f"the MQTT worker did not start: {line!r}")
        clip = make_clip("mqtt.avi", 10)
        rc, out, err = run_device(["-i", clip, "--fixed", "3,4", "--mqtt", f"127.0.0.1:{port}", "--device-id", "cam1"])
        if rc != 0:
            fail(f"mqtt: exit {rc}: {err}")
        frames, summary = parse_jsonl(out, "mqtt")
        check_frames(frames, "mqtt", indices=range(10), configs={(3, 4)})
        print(f"ok: mqtt: 10 frames through the broker, p50 {summary['rtt_p50_ms']} ms")
    finally:
        if worker:
            stop_service(worker)
        mosq.terminate()
        mosq.wait(timeout=20)


def cross():
    arm = os.environ.get("SLIMCODEC_DEVICE_AARCH64", "")
    if not arm or not os.path.exists(arm) or not shutil.which("qemu-aarch64"):
        print("SKIP: no aarch64 slimcodec-device (SLIMCODEC_DEVICE_AARCH64) or no qemu-aarch64")
        sys.exit(77)
    clip = make_clip("cross.avi", 8)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", clip, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    svc, port = start_service()
    try:
        args = ["--quiet", "-i", "-", "--video-size", f"{W}x{H}", "--framerate", "10", "--fixed", "4,3", "--size",
                "128", "--deadline-ms", "60000", "--server", f"127.0.0.1:{port}"]
        runs = {}
        for name, cmd in (("x86", [DEVICE]), ("aarch64", ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", "-cpu",
                                                            "cortex-a53", arm])):
            p = subprocess.run(cmd + args, input=raw, capture_output=True, timeout=300)
            if p.returncode != 0:
                fail(f"{name}: exit {p.returncode}: {p.stderr.decode()}")
            runs[name], _ = parse_jsonl(p.stdout.decode(), name)
            check_frames(runs[name], name, indices=range(8), configs={(4, 3)})
        # The replies' digests are of the dequantized features: equal digests mean the same quantized codes, bit for
        # bit. Tolerance: every frame the same size, and at least 7 of 8 the same codes (NEON and AVX may round a
        # value on a quantization boundary differently).
        same = sum(a["digest"] == b["digest"] for a, b in zip(runs["x86"], runs["aarch64"]))
        if any(a["bytes"] != b["bytes"] for a, b in zip(runs["x86"], runs["aarch64"])) or same < 7:
            fail(f"aarch64 and x86 devices disagree: {same} of 8 digests equal")
        print(f"ok: cross: aarch64 (qemu, cortex-a53) and x86 devices sent the same codes for {same} of 8 frames")
    finally:
        stop_service(svc)


{"loopback": loopback, "mqtt": mqtt, "cross": cross, "sigint": sigint, "reconnect": reconnect, "bad_inputs": bad_inputs}[CASE]()
