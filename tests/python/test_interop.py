"""Frames written by the module parse in C++ and the other way round: through a small C++ program
(frame_tool.cpp) and through the decode service on loopback (identity backend: the reply's digest is the digest
of the values the service dequantized)."""
import os
import socket
import subprocess
import time

import numpy as np
import pytest

from conftest import GOLDEN, tool

TABLES = os.path.join(GOLDEN, "tables.safetensors")  # 3 channels, b = 1, 3, 4, 8
# The module and the C++ programs built with the same flags (the CMake build) give bit-identical values; a module
# built otherwise (pip, no -march=native) may differ where one build fuses lo + q * step into an FMA: by at most
# 2^-22 * max(|lo|, |hi|) (docs/wire-format.md). The codes, and so the frame bytes, are identical either way.
SAME_FLAGS = os.environ.get("SLIMCODEC_SAME_FLAGS") == "1"


def assert_same_values(got, want, bounds):
    if SAME_FLAGS:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=2.0 ** -22 * max(abs(b) for b in bounds))


def latent(seed, shape=(3, 12, 20), scale=0.5):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


CASES = [(b, None) for b in range(1, 9)] + [(b, TABLES) for b in (1, 3, 4, 8)]


@pytest.mark.parametrize("bits,tables", CASES, ids=[f"b{b}-codec{0 if t is None else 1}" for b, t in CASES])
def test_frames_cross_between_python_and_cpp(sc, tmp_path, bits, tables):
    exe = tool("SLIMCODEC_FRAME_TOOL")
    t = sc.EntropyTables.load(tables) if tables else None
    x = latent(bits)
    lo, hi = -1.5, 1.5
    # C++ writes, Python reads: the same bytes as the module writes, and the same values.
    (tmp_path / "x.f32").write_bytes(x.tobytes())
    cmd = [exe, "encode", str(tmp_path / "x.f32"), *map(str, x.shape), "2", str(bits), str(lo), str(hi), "77"]
    cpp_frame = subprocess.run(cmd + ([tables] if tables else []), check=True, capture_output=True).stdout
    py_frame = sc.encode_frame(x, s=2, bits=bits, bounds=(lo, hi), frame_id=77, tables=t)
    assert cpp_frame == py_frame
    f = sc.parse_frame(cpp_frame, tables=t)
    assert (f.frame_id, f.bits, f.s, f.shape) == (77, bits, 2, x.shape)
    # Python writes (two frames, a stream), C++ reads: the values the module dequantizes.
    second = sc.encode_frame(latent(100 + bits), s=1, bits=bits, bounds=(lo, hi), frame_id=78, tables=t)
    out = subprocess.run([exe, "decode"] + ([tables] if tables else []), input=py_frame + second,
                         check=True, capture_output=True).stdout
    values = np.frombuffer(out, np.float32).reshape(2, *x.shape)
    assert_same_values(values[0], f.values(), (lo, hi))
    assert_same_values(values[1], sc.parse_frame(second, tables=t).values(), (lo, hi))


def test_cpp_refuses_what_python_refuses(sc):
    exe = tool("SLIMCODEC_FRAME_TOOL")
    data = bytearray(sc.encode_frame(latent(1), s=1, bits=3, bounds=(-1, 1)))
    data[70] ^= 4
    r = subprocess.run([exe, "decode"], input=bytes(data), capture_output=True)
    with pytest.raises(sc.CrcMismatch) as info:
        sc.parse_frame(bytes(data))
    assert r.returncode == 1 and r.stderr.decode().strip() == str(info.value)


@pytest.fixture(scope="module")
def service():
    exe = tool("SLIMCODEC_DECODE_SERVICE")
    proc = subprocess.Popen([exe, "--port", "0", "--workers", "1", "--io-threads", "1", "--entropy-tables", TABLES],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on 127.0.0.1:"), line
    port = int(line.split()[2].split(":")[1].rstrip(","))
    yield port
    proc.terminate()
    proc.wait(timeout=30)


def read_reply(sc, sock):
    head = b""
    while len(head) < sc.REPLY_HEAD_SIZE:
        chunk = sock.recv(sc.REPLY_HEAD_SIZE - len(head))
        assert chunk, "service closed the connection"
        head += chunk
    rest = b""
    size = sc.peek_reply_size(head)
    while len(head) + len(rest) < size:
        rest += sock.recv(size - len(head) - len(rest))
    return sc.parse_reply(head + rest)


def test_decode_service_answers_python_frames(sc, service):
    t = sc.EntropyTables.load(TABLES)
    with socket.create_connection(("127.0.0.1", service), timeout=30) as sock:
        for i, (bits, tables) in enumerate(CASES):
            x = latent(200 + i)
            data = sc.encode_frame(x, s=3, bits=bits, bounds=(-2, 2), frame_id=1000 + i,
                                   timestamp_us=int(time.time() * 1e6), tables=t if tables else None)
            for k in range(0, len(data), 500):  # in pieces, as a slow link delivers them
                sock.sendall(data[k:k + 500])
            r = read_reply(sc, sock)
            assert r.status == sc.Errc.ok, r
            assert r.frame_id == 1000 + i
            assert r.out_shape == x.shape
            if SAME_FLAGS:
                assert r.digest == sc.digest_features(sc.decode_frame(data, tables=t))
            else:
                assert r.digest != 0


def test_decode_service_rejects_a_broken_stream_with_a_reply_python_reads(sc, service):
    with socket.create_connection(("127.0.0.1", service), timeout=30) as sock:
        sock.sendall(b"NOT A FRAME" * 10)
        r = read_reply(sc, sock)
        assert r.status == sc.Errc.bad_magic and r.frame_id == 0
        with pytest.raises(sc.BadMagic):
            sc.parse_frame(b"NOT A FRAME" * 10)
