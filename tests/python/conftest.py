"""Shared helpers for the Python module's tests (pytest, Debian's python3-pytest).

The module is imported from PYTHONPATH: the CMake build (SLIMCODEC_BUILD_PYTHON=ON puts it in BUILD/python) or a
pip install (scripts/test installs into build/py-binding/site). C++ programs used for cross-checks come from
environment variables and their tests skip without them:
  SLIMCODEC_DECODE_SERVICE   slimcodec-decode-service (frames and replies over TCP on loopback)
  SLIMCODEC_FRAME_TOOL       slimcodec-py-frame-tool (tests/python/frame_tool.cpp: frames to and from files)
  SLIMCODEC_FIT_TOOL         slimcodec-fit-entropy-tables (the tables the module fits, the tool fits)
  SLIMCODEC_DEVICE_CLIENT    slimcodec-py-device-client (device_client.cpp: the device's own TCP transport)
"""
import json
import os
import struct
import sys

import numpy as np
import pytest

sys.dont_write_bytecode = True  # keep the source tree clean

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(ROOT, "tests", "golden")
GOLDEN_REPLIES = os.path.join(ROOT, "tests", "golden_replies")
DATA = os.path.join(ROOT, "tests", "data")


def golden_files(folder):
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".bin"))


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def sidecar_entries(path):
    """(key, [words]) for each line of a golden sidecar, blank lines and # comments left out."""
    with open(path) as f:
        for line in f:
            words = line.split()
            if words and not words[0].startswith("#"):
                yield words[0], words[1:]


def read_frame_sidecar(path):
    """tests/golden/README.md's sidecar: {'frames': [dict...]} or {'error', 'errc', 'frames_before_error'}."""
    side, frame = {"frames": []}, None
    for key, rest in sidecar_entries(path):
        if key == "frame":
            frame = {}
            side["frames"].append(frame)
        elif key == "error":
            side["error"] = rest[0]
        elif key in ("errc", "frames_before_error"):
            side[key] = int(rest[0])
        elif key == "frames":
            side["frame_count"] = int(rest[0])
        elif key == "codes":
            frame["codes"] = np.array([int(w) for w in rest], dtype=np.uint8)
        elif key == "values":
            frame["values"] = np.array([float(w) for w in rest], dtype=np.float32)
        elif key in ("lo", "hi"):
            frame[key] = np.float32(float(rest[0]))
        elif frame is not None:
            frame[key] = int(rest[0])
    return side


def read_reply_sidecar(path):
    """tests/golden_replies/ sidecar: {'replies': [dict...]} or {'error', 'errc', 'replies_before_error'}."""
    side, replies = {}, {}
    for key, rest in sidecar_entries(path):
        if key == "error":
            side[key] = rest[0]
        elif key in ("errc", "replies_before_error", "replies"):
            side[key] = int(rest[0])
        else:
            index, _, field = key.partition(".")
            r = replies.setdefault(int(index), {"detections": []})
            if field.startswith("detection."):
                r["detections"].append((int(rest[0]),) + tuple(float(w) for w in rest[1:]))
            elif field == "out_shape":
                r[field] = tuple(int(w) for w in rest)
            else:
                r[field] = int(rest[0])
    side["reply_list"] = [replies[i] for i in sorted(replies)]
    return side


def read_safetensors(path):
    """A minimal numpy safetensors reader for the fixtures: {name: array}, metadata."""
    dtypes = {"F32": np.float32, "U8": np.uint8, "U16": np.uint16, "F64": np.float64, "I64": np.int64}
    data = read_bytes(path)
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=dtypes[t["dtype"]]).reshape(t["shape"])
    return out, meta


@pytest.fixture(scope="session")
def sc():
    import slimcodec
    return slimcodec


@pytest.fixture(scope="session")
def golden_tables(sc):
    return sc.EntropyTables.load(os.path.join(GOLDEN, "tables.safetensors"))


def tool(env_name):
    path = os.environ.get(env_name, "")
    if not path or not os.access(path, os.X_OK):
        pytest.skip(f"{env_name} not set to a built program")
    return path
