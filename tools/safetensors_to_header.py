#!/usr/bin/env python3
"""Turns a .safetensors file into a C++17 header whose constexpr arrays hold the weights, with a weight Source over
them, so a board without a filesystem links the model into its program (docs/embedding.md):

    python3 tools/safetensors_to_header.py encoder.safetensors encoder_weights.hpp --namespace encoder_weights
    ...
    #include "encoder_weights.hpp"
    encoder.load(encoder_weights::kSource, "");   // bitwise the same weights as loading the file

Only F32 tensors are accepted, and the file is validated as strictly as slimcodec's reader does (JSON header,
unique names, offsets that tile the data section). Floats are written as hexadecimal literals, which are exact.
Standard library only; runs at build time (tests/embedded/CMakeLists.txt).
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import tempfile

kMaxRank = 8  # slimcodec::weights::kMaxRank
kMaxHeaderBytes = 100 << 20  # the reference reader's limit, as in weights/safetensors.hpp
kIdentifier = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
kFloatsPerLine = 6


class FormatError(Exception):
    pass


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise FormatError("duplicate key in the header JSON")
    return dict(pairs)


def read_safetensors(data: bytes):
    """Returns [(name, shape, floats)] in header order; raises FormatError on anything malformed."""
    if len(data) < 8:
        raise FormatError("file shorter than the 8-byte header length")
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > kMaxHeaderBytes or n > len(data) - 8:
        raise FormatError("header length beyond the end of the file or above the limit")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"header is not valid UTF-8 JSON: {e}") from None
    if not isinstance(header, dict) or data[8:9] != b"{":
        raise FormatError("header is not a JSON object starting at its first byte")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise FormatError("__metadata__ must map strings to strings")
    body = data[8 + n:]
    entries = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise FormatError(f"tensor '{name}': entry lacks dtype, shape or data_offsets")
        if info["dtype"] != "F32":
            raise FormatError(f"tensor '{name}': dtype {info['dtype']}, only F32 can be embedded")
        shape, offsets = info["shape"], info["data_offsets"]
        if (not isinstance(shape, list) or len(shape) > kMaxRank
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
            raise FormatError(f"tensor '{name}': shape must be at most {kMaxRank} non-negative integers")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            raise FormatError(f"tensor '{name}': data_offsets must be two integers")
        begin, end = offsets
        if not 0 <= begin <= end <= len(body) or end - begin != 4 * math.prod(shape):
            raise FormatError(f"tensor '{name}': data_offsets do not match the shape or the file size")
        entries.append((name, shape, begin, end))
    covered = 0
    for name, _, begin, end in sorted(entries, key=lambda e: (e[2], e[3])):
        if begin != covered:
            raise FormatError(f"tensor '{name}': overlap or gap in the data section")
        covered = end
    if covered != len(body):
        raise FormatError("bytes after the last tensor in the data section")
    tensors = []
    for name, shape, begin, end in entries:
        values = struct.unpack_from(f"<{(end - begin) // 4}f", body, begin)
        for v in values:
            if not math.isfinite(v):
                raise FormatError(f"tensor '{name}': holds NaN or infinity")
        tensors.append((name, shape, values))
    return tensors


def cpp_string_view(s: str) -> str:
    """A std::string_view of the UTF-8 bytes of s. Octal escapes never run into the next character, and the explicit
    length keeps any NUL byte inside the name."""
    raw = s.encode("utf-8")
    out = []
    for b in raw:
        c = chr(b)
        if 0x20 <= b < 0x7F and c not in '"\\?':
            out.append(c)
        else:
            out.append(f"\\{b:03o}")
    return f'std::string_view("{"".join(out)}", {len(raw)})'


def cpp_float(v: float) -> str:
    """An exact float literal: hexadecimal mantissa (trailing zeros dropped) and exponent."""
    sign = "-" if math.copysign(1.0, v) < 0 else ""
    mantissa, exponent = abs(v).hex()[2:].split("p")  # "1.8000000000000", "+1"
    whole, _, frac = mantissa.partition(".")
    frac = frac.rstrip("0")
    return f"{sign}0x{whole}{'.' + frac if frac else ''}p{exponent}f"


def render(tensors, namespace: str, source_name: str) -> str:
    tensors = sorted(tensors, key=lambda t: t[0].encode("utf-8"))  # std::string_view order: bytewise
    floats, shapes, rows = [], [], []
    for name, shape, values in tensors:
        rows.append(f"    {{{cpp_string_view(name)}, {len(floats)}u, {len(shapes)}u, {len(shape)}u}},")
        floats.extend(values)
        shapes.extend(shape)
    data_lines = [
        "    " + ", ".join(cpp_float(v) for v in floats[i:i + kFloatsPerLine]) + ","
        for i in range(0, len(floats), kFloatsPerLine)
    ]
    shape_lines = ["    " + ", ".join(str(d) for d in shapes[i:i + 12]) + "," for i in range(0, len(shapes), 12)]
    file_name = os.path.basename(source_name)
    return f"""\
// Generated by tools/safetensors_to_header.py from {file_name}: {len(tensors)} tensors, {len(floats)} floats.
// Do not edit. kSource is a slimcodec weight Source (layers/tensor_io.hpp) over constexpr arrays in .rodata.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <slimcodec/common/result.hpp>

namespace {namespace} {{

struct Tensor {{
  std::string_view name;
  uint32_t data;   // first float in kData
  uint32_t shape;  // first dimension in kShapes
  uint32_t rank;
}};

inline constexpr size_t kFloats = {len(floats)};

alignas(64) inline constexpr float kData[{max(len(floats), 1)}] = {{
{chr(10).join(data_lines) if data_lines else "    0.f,"}
}};

inline constexpr int64_t kShapes[{max(len(shapes), 1)}] = {{
{chr(10).join(shape_lines) if shape_lines else "    0,"}
}};

// Sorted by name, bytewise.
inline constexpr Tensor kTensors[{max(len(rows), 1)}] = {{
{chr(10).join(rows) if rows else '    {"", 0u, 0u, 0u},'}
}};
inline constexpr size_t kTensorCount = {len(rows)};

// The same lookups and errors as weights::SafeTensorsFile: tensor_missing, tensor_shape_mismatch.
class Source {{
 public:
  slimcodec::Result<const float*> tensor_f32(std::string_view name, const int64_t* shape, size_t rank) const noexcept {{
    const Tensor* t = lower_bound(name);
    if (t == end() || t->name != name) return slimcodec::Error{{slimcodec::Errc::tensor_missing, nullptr}};
    if (t->rank != rank || (rank != 0 && shape == nullptr) || !std::equal(shape, shape + rank, kShapes + t->shape)) {{
      return slimcodec::Error{{slimcodec::Errc::tensor_shape_mismatch, nullptr}};
    }}
    return kData + t->data;
  }}

  size_t count_with_prefix(std::string_view prefix) const noexcept {{
    size_t n = 0;
    for (const Tensor* t = lower_bound(prefix); t != end() && t->name.substr(0, prefix.size()) == prefix; ++t) ++n;
    return n;
  }}

  static constexpr size_t size() noexcept {{ return kTensorCount; }}
  static constexpr const Tensor* begin() noexcept {{ return kTensors; }}
  static constexpr const Tensor* end() noexcept {{ return kTensors + kTensorCount; }}

 private:
  static const Tensor* lower_bound(std::string_view name) noexcept {{
    return std::lower_bound(begin(), end(), name, [](const Tensor& t, std::string_view n) {{ return t.name < n; }});
  }}
}};

inline constexpr Source kSource{{}};

}}  // namespace {namespace}
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help=".safetensors file")
    parser.add_argument("output", help="header to write")
    parser.add_argument("--namespace", default="slimcodec_weights", help="C++ namespace, e.g. board::encoder")
    parser.add_argument("--prefix", default="", help="embed only tensors whose name starts with this")
    args = parser.parse_args(argv)
    if not all(kIdentifier.match(part) for part in args.namespace.split("::")):
        parser.error(f"--namespace {args.namespace!r} is not a C++ namespace name")
    try:
        with open(args.input, "rb") as f:
            tensors = read_safetensors(f.read())
    except (OSError, FormatError) as e:
        print(f"safetensors_to_header: {args.input}: {e}", file=sys.stderr)
        return 1
    tensors = [t for t in tensors if t[0].startswith(args.prefix)]
    if sum(len(t[2]) for t in tensors) >= 1 << 32 or len(tensors) >= 1 << 32:
        print("safetensors_to_header: more than 2^32 floats or tensors", file=sys.stderr)
        return 1
    text = render(tensors, args.namespace, args.input)
    # Write next to the target and rename, so a failed run never leaves a half-written header behind.
    out_dir = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    os.replace(tmp, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
