#!/usr/bin/env python3
"""Writes a small .safetensors file with the cases tools/safetensors_to_header.py must carry over exactly: names
with quotes, backslashes, '?', control bytes, a NUL and UTF-8; a rank-0 and an empty tensor; signed zeros,
subnormals and the float extremes; and a data section laid out in a different order than the header.
Usage: odd_tensors.py OUTPUT (tests/embedded/CMakeLists.txt runs it at build time)."""
import json
import struct
import sys

# name -> (shape, float32 bit patterns)
kTensors = {
    'quote"back\\slash?': ([2], [0x80000000, 0x00000000]),  # -0.0, +0.0
    "nul\x00inside": ([1], [0x3F800000]),  # 1.0
    "utf8.\u00e9.\u540d": ([1, 1], [0x00000001]),  # smallest subnormal
    "rank0": ([], [0x7F7FFFFF]),  # FLT_MAX
    "empty": ([0, 3], []),
    "line\nbreak\t??=": ([3], [0x40490FDB, 0x807FFFFF, 0x00800000]),  # pi, largest negative subnormal, FLT_MIN
    "": ([2, 1, 1], [0xFF7FFFFF, 0x33800000]),  # -FLT_MAX, 2^-24
}


def main() -> int:
    names = list(kTensors)
    header, blobs, offset = {"__metadata__": {"what": "converter edge cases"}}, [], 0
    for name in reversed(names):  # data in reverse header order
        shape, bits = kTensors[name]
        blob = struct.pack(f"<{len(bits)}I", *bits)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    # Header keys in the original order, so sorting by name is the converter's job.
    ordered = {"__metadata__": header["__metadata__"], **{n: header[n] for n in names}}
    text = json.dumps(ordered, ensure_ascii=True).encode("ascii")
    with open(sys.argv[1], "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
