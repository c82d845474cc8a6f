#!/usr/bin/env python3
"""tools/safetensors_to_header.py on its own: exact float literals, escaped names, and every malformed or
unsupported input refused with exit status 1 and no header written. The C++ side (test_embedded_weights.cpp)
checks that the headers it generates compile and match the files bit for bit."""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import unittest

kRoot = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
kTool = os.path.join(kRoot, "tools", "safetensors_to_header.py")
sys.path.insert(0, os.path.join(kRoot, "tools"))
import safetensors_to_header as conv  # noqa: E402


def safetensors(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def f32(*values) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


class FloatLiterals(unittest.TestCase):
    def test_every_float32_class_round_trips_exactly(self):
        bits = [0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00800000, 0x3F800000, 0x7F7FFFFF, 0xFF7FFFFF,
                0x3DCCCCCD, 0x40490FDB, 0xC0000000]
        for b in bits:
            (v,) = struct.unpack("<f", struct.pack("<I", b))
            literal = conv.cpp_float(v)
            self.assertTrue(literal.endswith("f"), literal)
            back = float.fromhex(literal[:-1])
            self.assertEqual(struct.pack("<f", back), struct.pack("<I", b), literal)

    def test_literals_are_short(self):
        self.assertEqual(conv.cpp_float(1.0), "0x1p+0f")
        self.assertEqual(conv.cpp_float(-0.0), "-0x0p+0f")
        self.assertEqual(conv.cpp_float(3.0), "0x1.8p+1f")


class Names(unittest.TestCase):
    def test_escapes_keep_length_and_never_merge_with_the_next_character(self):
        self.assertEqual(conv.cpp_string_view('a"b'), 'std::string_view("a\\042b", 3)')
        self.assertEqual(conv.cpp_string_view("\x001"), 'std::string_view("\\0001", 2)')
        self.assertEqual(conv.cpp_string_view("??="), 'std::string_view("\\077\\077=", 3)')
        self.assertEqual(conv.cpp_string_view("\u00e9"), 'std::string_view("\\303\\251", 2)')


class Refusals(unittest.TestCase):
    def run_tool(self, data: bytes, *extra):
        with tempfile.TemporaryDirectory() as d:
            src, out = os.path.join(d, "in.safetensors"), os.path.join(d, "out.hpp")
            with open(src, "wb") as f:
                f.write(data)
            r = subprocess.run([sys.executable, kTool, src, out, *extra], capture_output=True, text=True)
            return r.returncode, r.stderr, os.path.exists(out), sorted(os.listdir(d))

    def assert_refused(self, data: bytes, message: str, *extra):
        rc, err, wrote, files = self.run_tool(data, *extra)
        self.assertEqual(rc, 1, err)
        self.assertIn(message, err)
        self.assertFalse(wrote)
        self.assertEqual(files, ["in.safetensors"])  # no temporary left behind either

    def test_a_valid_file_converts(self):
        rc, err, wrote, _ = self.run_tool(safetensors({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}},
                                                      f32(1.0, 2.0)), "--namespace", "board::weights")
        self.assertEqual((rc, err, wrote), (0, "", True))

    def test_malformed_files(self):
        ok = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
        cases = [
            (b"\x01\x00", "shorter than"),
            (struct.pack("<Q", 1 << 40) + b"{}", "header length"),
            (struct.pack("<Q", 2) + b"[]", "JSON object"),
            (struct.pack("<Q", 3) + b' {}', "JSON object"),
            (struct.pack("<Q", 9) + b'{"a":1,}x', "not valid UTF-8 JSON"),
            (struct.pack("<Q", 2) + b"\xff\xfe", "not valid UTF-8 JSON"),
            (safetensors({"w": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4), "only F32"),
            (safetensors({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, f32(1, 2)), "do not match"),
            (safetensors({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, f32(1, 2)), "non-negative"),
            (safetensors({"w": {"dtype": "F32", "shape": [1] * 9, "data_offsets": [0, 4]}}, f32(1)), "at most 8"),
            (safetensors({"w": {"dtype": "F32", "shape": [2]}}, f32(1, 2)), "lacks"),
            (safetensors({"w": ok}, f32(1, 2, 3)), "after the last tensor"),
            (safetensors({"w": ok}, f32(1)), "do not match"),
            (safetensors({"w": ok, "v": ok}, f32(1, 2)), "overlap or gap"),
            (safetensors({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, f32(1, 2)), "overlap or gap"),
            (safetensors({"w": ok}, f32(1, math.nan)), "NaN or infinity"),
            (safetensors({"w": ok}, f32(math.inf, 1)), "NaN or infinity"),
            (safetensors({"__metadata__": {"k": 1}, "w": ok}, f32(1, 2)), "__metadata__"),
        ]
        for data, message in cases:
            with self.subTest(message=message, data=data[:40]):
                self.assert_refused(data, message)

    def test_duplicate_names(self):
        entry = b'{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'
        text = b'{"w":' + entry + b',"w":' + entry + b"}"
        self.assert_refused(struct.pack("<Q", len(text)) + text + f32(1), "duplicate key")

    def test_bad_namespace(self):
        rc, err, wrote, _ = self.run_tool(safetensors({}, b""), "--namespace", "1bad")
        self.assertEqual(rc, 2)
        self.assertFalse(wrote)

    def test_missing_input(self):
        r = subprocess.run([sys.executable, kTool, "/nonexistent.safetensors", os.devnull], capture_output=True)
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    unittest.main()
