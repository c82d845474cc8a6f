"""Hostile bytes never crash the interpreter (a property-based fuzz with python3-hypothesis, bounded in time), and
100,000 parses leave reference counts and memory where they were."""
import gc
import os
import sys
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import GOLDEN, GOLDEN_REPLIES, golden_files, read_bytes

# Bounded twice: at most this many seconds of examples (the rest return at once), and a number of examples.
FUZZ_SECONDS = float(os.environ.get("SLIMCODEC_PY_FUZZ_SECONDS", "4"))
SEEDS = [read_bytes(p) for p in golden_files(os.path.join(GOLDEN, "ok"))] + \
        [read_bytes(p) for p in golden_files(os.path.join(GOLDEN_REPLIES, "ok"))]


def mutate(data, edits):
    b = bytearray(data)
    for kind, pos, value in edits:
        if not b:
            break
        pos %= len(b)
        if kind == 0:
            b[pos] = value
        elif kind == 1:
            del b[pos:]
        elif kind == 2:
            b.insert(pos, value)
        else:
            b[pos] ^= 1 << (value % 8)
    return bytes(b)


def exercise(sc, tables, data):
    """Every reader on the bytes: each either works or raises slimcodec.Error."""
    for call in (lambda: sc.parse_frame(data, tables=tables).values(),
                 lambda: sc.parse_frame(data).codes(tables=tables),
                 lambda: sc.decode_frame(data, tables=tables),
                 lambda: sc.parse_reply(data),
                 lambda: sc.peek_reply_size(data),
                 lambda: sc.EntropyTables.from_bytes(data)):
        try:
            call()
        except sc.Error:
            pass
    p = sc.FrameParser(tables=tables)
    try:
        for i in range(0, len(data), 17):
            for f in p.feed(data[i:i + 17]):
                f.values()
        p.finish()
    except sc.Error:
        pass


def test_fuzz_readers_raise_only_library_errors(sc, golden_tables):
    deadline = time.monotonic() + FUZZ_SECONDS
    runs = [0]

    @settings(max_examples=int(os.environ.get("SLIMCODEC_PY_FUZZ_EXAMPLES", "800")), deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(seed=st.sampled_from(SEEDS),
           edits=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4),
           raw=st.binary(max_size=120))
    def run(seed, edits, raw):
        if time.monotonic() > deadline:
            return
        runs[0] += 1
        exercise(sc, golden_tables, mutate(seed, edits))
        exercise(sc, golden_tables, raw)

    run()
    assert runs[0] > 50


def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_refcounts_and_memory_steady_over_100000_parses(sc):
    x = np.random.default_rng(0).standard_normal((6, 16, 16)).astype(np.float32)
    data = sc.encode_frame(x, s=2, bits=4)
    bad = data[:-1] + bytes([data[-1] ^ 1])
    reply = bytes(sc.Reply(frame_id=1, detections=[(1, 0.5, 0, 0, 2, 2)]))
    out = np.empty((6, 16, 16), np.float32)
    parser = sc.FrameParser()

    def round_(n):
        for _ in range(n):
            f = sc.parse_frame(data)
            f.payload
            sc.decode_frame(data, out=out)
            parser.feed(data)
            sc.parse_reply(reply)
            try:
                sc.parse_frame(bad)
            except sc.CrcMismatch:
                pass

    round_(2000)  # warm-up: allocator pools, caches
    gc.collect()
    refs = (sys.getrefcount(data), sys.getrefcount(bad), sys.getrefcount(out), sys.getrefcount(reply))
    before = rss_kib()
    round_(100000)
    gc.collect()
    grown = rss_kib() - before
    assert (sys.getrefcount(data), sys.getrefcount(bad), sys.getrefcount(out), sys.getrefcount(reply)) == refs
    assert grown < 2048, f"RSS grew {grown} KiB over 100,000 rounds"
