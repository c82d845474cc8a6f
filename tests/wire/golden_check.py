#!/usr/bin/env python3
"""Checks tools/educational_decoder.py (written from docs/wire-format.md alone) against tests/golden/, and
that tests/wire/make_golden.py still reproduces the checked-in golden files byte for byte.

Usage: golden_check.py GOLDEN_DIR. Exit status 0 when everything agrees.
"""
import filecmp
import os
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, HERE)
import educational_decoder as ed  # noqa: E402
import make_golden  # noqa: E402

HEADER_KEYS = ("bound_mode", "codec", "ensemble_size", "bits", "channels", "height", "width", "frame_id",
               "timestamp_us", "payload_size", "offset", "frame_size")


def read_sidecar(path):
    side, frame = {"frames": []}, None
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            key, rest = words[0], words[1:]
            if key == "frame":
                frame = {}
                side["frames"].append(frame)
            elif key in ("error", "errc", "frames_before_error"):
                side[key] = rest[0]
            elif key in ("codes", "values"):
                frame[key] = rest
            elif key in ("lo", "hi"):
                frame[key] = float(rest[0])
            elif frame is not None:
                frame[key] = int(rest[0])
    return side


TABLES = None  # the golden entropy tables (tables.safetensors), for codec-1 frames


def check_ok(path, side, problems):
    with open(path, "rb") as f:
        frames, error = ed.decode_stream(f.read(), tables=TABLES)
    if error is not None:
        problems.append("%s: unexpected %s" % (path, error))
        return
    if len(frames) != len(side["frames"]):
        problems.append("%s: %d frames, sidecar says %d" % (path, len(frames), len(side["frames"])))
        return
    for got, want in zip(frames, side["frames"]):
        for key in HEADER_KEYS:
            if got[key] != want[key]:
                problems.append("%s: %s %r != %r" % (path, key, got[key], want[key]))
        for key in ("lo", "hi"):
            if got[key] != ed.to_binary32(want[key]):
                problems.append("%s: %s %r != %r" % (path, key, got[key], want[key]))
        if [str(q) for q in got["codes"]] != want["codes"]:
            problems.append("%s: codes differ" % path)
        if ["%.9g" % v for v in got["values"]] != want["values"]:
            problems.append("%s: values differ" % path)


def check_err(path, side, problems):
    with open(path, "rb") as f:
        frames, error = ed.decode_stream(f.read(), tables=TABLES)
    if error is None:
        problems.append("%s: decoded, expected %s" % (path, side["error"]))
        return
    if error.name != side["error"] or error.number != int(side["errc"]):
        problems.append("%s: got %s, expected %s (%s)" % (path, error, side["error"], side["errc"]))
    if len(frames) != int(side["frames_before_error"]):
        problems.append("%s: %d frames before the error, expected %s" % (path, len(frames),
                                                                         side["frames_before_error"]))


def check_reproducible(golden, problems):
    with tempfile.TemporaryDirectory() as tmp:
        make_golden.generate(tmp)
        for kind in ("ok", "err"):
            fresh = sorted(os.listdir(os.path.join(tmp, kind)))
            stored = sorted(n for n in os.listdir(os.path.join(golden, kind)) if n.endswith((".bin", ".txt")))
            if fresh != stored:
                problems.append("%s/: generator makes %s, directory holds %s" % (kind, fresh, stored))
            _, mismatch, errors = filecmp.cmpfiles(os.path.join(tmp, kind), os.path.join(golden, kind), fresh,
                                                   shallow=False)
            for name in mismatch + errors:
                problems.append("%s/%s: generator output differs from the checked-in file" % (kind, name))
        if not filecmp.cmp(os.path.join(tmp, "tables.safetensors"), os.path.join(golden, "tables.safetensors"),
                           shallow=False):
            problems.append("tables.safetensors: generator output differs from the checked-in file")


def main(argv):
    golden = argv[1] if len(argv) > 1 else os.path.join(HERE, "..", "golden")
    problems, counts = [], {"ok": 0, "err": 0}
    global TABLES
    TABLES = ed.load_tables(os.path.join(golden, "tables.safetensors"))
    assert ed.crc32c(b"123456789") == 0xE3069283
    for kind, check in (("ok", check_ok), ("err", check_err)):
        for name in sorted(os.listdir(os.path.join(golden, kind))):
            if name.endswith(".bin"):
                path = os.path.join(golden, kind, name)
                check(path, read_sidecar(path[:-4] + ".txt"), problems)
                counts[kind] += 1
    check_reproducible(golden, problems)
    for p in problems:
        print("FAIL " + p)
    print("educational decoder: %d ok and %d err golden files, %d problems" % (counts["ok"], counts["err"],
                                                                              len(problems)))
    return 1 if problems or not counts["ok"] or not counts["err"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
