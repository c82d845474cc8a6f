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


def check_no_tables(path, problems):
    """A decoder without any table set answers the first codec-1 frame that passes steps 1-15
    entropy_table_mismatch, before looking at its payload. Returns 1 when the file has such a frame."""
    with open(path, "rb") as f:
        data = f.read()
    offset, k = 0, 0
    while offset < len(data):
        try:
            header, _, size = ed.decode_frame(data, offset)
        except ed.FrameError:
            return 0
        if header["codec"] == 1:
            frames, error = ed.decode_stream(data, tables=None)
            if error is None or error.name != "entropy_table_mismatch" or len(frames) != k:
                problems.append("%s: without tables got %s after %d frames, expected entropy_table_mismatch after "
                                "%d" % (path, error, len(frames), k))
            return 1
        offset, k = offset + size, k + 1
    return 0


def check_table_file(path, side, problems):
    try:
        t = ed.load_tables(path)
    except ed.TableFileError as err:
        if "error" not in side:
            problems.append("%s: refused with %s, expected to load" % (path, err))
        elif err.name != side["error"] or err.number != int(side["errc"]):
            problems.append("%s: got %s, expected %s (%s)" % (path, err, side["error"], side["errc"]))
        return
    if "error" in side:
        problems.append("%s: loaded, expected %s" % (path, side["error"]))
        return
    got = {"table_id": t["id"], "table_hash": t["hash"], "channels": len(t["bits"][min(t["bits"])]),
           "bits": sorted(t["bits"])}
    for key, value in got.items():
        if value != side[key]:
            problems.append("%s: %s %r, sidecar says %r" % (path, key, value, side[key]))


def read_table_sidecar(path):
    side = {}
    with open(path) as f:
        for line in f:
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            if words[0] == "bits":
                side["bits"] = [int(w) for w in words[1:]]
            elif words[0] == "error":
                side["error"] = words[1]
            else:
                side[words[0]] = int(words[1], 0)
    return side


def check_reproducible(golden, problems):
    with tempfile.TemporaryDirectory() as tmp:
        make_golden.generate(tmp)
        for kind in ("ok", "err", "tables"):
            fresh = sorted(os.listdir(os.path.join(tmp, kind)))
            stored = sorted(n for n in os.listdir(os.path.join(golden, kind))
                            if n.endswith((".bin", ".txt", ".safetensors")))
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
    # Codec-1 goldens (ok and err) decoded with no table set: entropy_table_mismatch, even where the payload's
    # reserved bytes are set (err/16_rans_reserved_payload).
    no_tables = 0
    for kind in ("ok", "err"):
        for name in sorted(os.listdir(os.path.join(golden, kind))):
            if name.endswith(".bin"):
                no_tables += check_no_tables(os.path.join(golden, kind, name), problems)
    if no_tables < 10:
        problems.append("only %d codec-1 goldens answered entropy_table_mismatch without tables" % no_tables)
    tables_dir = os.path.join(golden, "tables")
    for name in sorted(os.listdir(tables_dir)):
        if name.endswith(".safetensors"):
            path = os.path.join(tables_dir, name)
            check_table_file(path, read_table_sidecar(path[:-len(".safetensors")] + ".txt"), problems)
            counts["tables"] = counts.get("tables", 0) + 1
    check_reproducible(golden, problems)
    for p in problems:
        print("FAIL " + p)
    print("educational decoder: %d ok, %d err and %d table golden files, %d problems" % (
        counts["ok"], counts["err"], counts.get("tables", 0), len(problems)))
    return 1 if problems or not counts["ok"] or not counts["err"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
