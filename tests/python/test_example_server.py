"""examples/python/decode_server.py (asyncio, the module + the PyTorch reference reconstructor) answers frames with
replies the device's own TCP transport accepts; codec-1 frames without tables and broken streams get error replies."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from conftest import DATA, GOLDEN, ROOT, tool

SERVER = os.path.join(ROOT, "examples", "python", "decode_server.py")


@pytest.fixture(scope="module")
def server():
    pytest.importorskip("torch")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, SERVER, "--port", "0", "--weights",
                             os.path.join(DATA, "reconstructor_weights.safetensors")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stderr.readline()
    assert line.startswith("listening on 127.0.0.1:"), line + proc.stderr.read()
    port = int(line.split()[2].split(":")[1].rstrip(","))
    yield port, proc
    proc.terminate()
    proc.wait(timeout=30)


def frames(sc):
    rng = np.random.default_rng(5)
    out = []
    for i, bits in enumerate((1, 2, 4, 8)):
        x = rng.standard_normal((6, 8, 12)).astype(np.float32)
        out.append(sc.encode_frame(x, s=1 + i, bits=bits, frame_id=500 + i, timestamp_us=1000 * i))
    return out


def test_device_transport_accepts_the_replies(sc, server):
    port, _ = server
    client = tool("SLIMCODEC_DEVICE_CLIENT")
    # A codec-1 frame (golden, tables not loaded by the server): answered entropy_table_mismatch, stream goes on.
    rans = open(os.path.join(GOLDEN, "ok", "rans_b4_3x16x16.bin"), "rb").read()
    sent = frames(sc)
    r = subprocess.run([client, str(port)], input=b"".join(sent[:2]) + rans + b"".join(sent[2:]),
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    replies = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert len(replies) == 5
    ok = replies[:2] + replies[3:]
    for i, rep in enumerate(ok):
        assert rep["status"] == 0 and rep["frame_id"] == 500 + i and rep["timestamp_us"] == 1000 * i
        assert rep["out_shape"] == [24, 16, 24] and rep["digest"] != 0 and rep["decode_us"] > 0
    assert replies[2]["status"] == int(sc.Errc.entropy_table_mismatch)
    assert replies[2]["frame_id"] == sc.parse_frame(rans).frame_id


kReferenceDigest = """
import sys
import numpy as np
import torch
import slimcodec as sc
from slimcodec_ref.model import Reconstructor
from slimcodec_ref.safetensors_io import load_safetensors
rec = Reconstructor()
rec.load_state_dict(load_safetensors(sys.argv[1])[0])
rec.eval()
with torch.no_grad():
    out = rec(torch.from_numpy(sc.decode_frame(sys.stdin.buffer.read()))[None])[0].contiguous().numpy()
print(sc.digest_features(out))
"""


def test_replies_match_the_reference_reconstructor(sc, server):
    # The digest is bit-exact, and a float sum's bits depend on how many threads split it: the reference runs in
    # a process with the server's thread variables, not in this one (whose torch may use every core).
    port, _ = server
    data = frames(sc)[2]
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(data)
        buf = b""
        while len(buf) < sc.reply_size(0):
            buf += s.recv(4096)
    reply = sc.parse_reply(buf)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(sc.__file__)),
                                           os.path.join(ROOT, "python"), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", kReferenceDigest, os.path.join(DATA, "reconstructor_weights.safetensors")],
                       input=data, capture_output=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr.decode()
    assert reply.digest == int(r.stdout.decode().strip())


def test_broken_stream_gets_an_error_reply(sc, server):
    port, _ = server
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(frames(sc)[0] + b"SLMC" + b"\xff" * 60)
        buf = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    first = sc.parse_reply(buf)
    second = sc.parse_reply(buf[first.size:])
    assert first.status == sc.Errc.ok and first.frame_id == 500
    assert second.status == sc.Errc.version_unsupported and second.frame_id == 0
