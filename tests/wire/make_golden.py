#!/usr/bin/env python3
"""Writes tests/golden/{ok,err}/*.bin, tests/golden/tables/*.safetensors and their .txt sidecars for frame format v1 (docs/wire-format.md).

An implementation independent of the C++ writer: the C++ tests rebuild every ok frame from its sidecar and
compare bytes, and tools/educational_decoder.py decodes all of them. Output is deterministic.
Usage: make_golden.py [OUT_DIR]   (default: tests/golden next to this script)
"""
import json
import os
import struct
import sys

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden")

ERRC = {
    "truncated": 10, "bad_magic": 12, "version_unsupported": 14, "reserved_nonzero": 16,
    "header_size_invalid": 18, "header_crc_mismatch": 20, "bits_out_of_range": 22,
    "ensemble_out_of_range": 24, "shape_out_of_range": 26, "bounds_invalid": 28, "codec_unsupported": 30,
    "length_mismatch": 32, "length_too_large": 34, "crc_mismatch": 36, "entropy_table_mismatch": 38,
    "entropy_stream_invalid": 40,
}


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def pack(codes, bits):
    """Raw bit-pack: groups of 128 codes -> 16*bits bytes; lane word W_l holds q[16j+l] at bit j*bits."""
    groups = (len(codes) + 127) // 128
    padded = list(codes) + [0] * (groups * 128 - len(codes))
    out = bytearray()
    for g in range(groups):
        q = padded[g * 128:(g + 1) * 128]
        block = bytearray(16 * bits)
        for lane in range(16):
            word = 0
            for j in range(8):
                word |= q[16 * j + lane] << (j * bits)
            for k in range(bits):
                block[16 * k + lane] = (word >> (8 * k)) & 0xFF
        out += block
    return bytes(out)


def dequantize(codes, bits, lo, hi):
    levels = (1 << bits) - 1
    step = f32(f32(hi - lo) / levels)
    return [f32(lo + f32(q * step)) for q in codes]


def codes_for(n, bits, seed):
    """Deterministic xorshift32 codes; the first two are 0 and the maximum so both ends are covered."""
    state, levels, out = seed or 1, (1 << bits) - 1, []
    for _ in range(n):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        out.append(state % (levels + 1))
    if n >= 2:
        out[0], out[1] = 0, levels
    return out


def header(f, payload_size=None, fix_crc=True, patch=None):
    """48 header bytes from the field dict f; patch = {offset: byte} applied before the header CRC."""
    h = bytearray(48)
    h[0:4] = b"SLMC"
    h[4], h[5] = 1, 48
    h[6] = f["bound_mode"]
    h[7] = f.get("codec", 0)
    h[8], h[9] = f["ensemble_size"], f["bits"]
    struct.pack_into("<HHH", h, 12, f["channels"], f["height"], f["width"])
    struct.pack_into("<ff", h, 20, f["lo"], f["hi"])
    struct.pack_into("<IQ", h, 28, f["frame_id"], f["timestamp_us"])
    size = payload_size if payload_size is not None else payload_size_of(f)
    struct.pack_into("<I", h, 40, size & 0xFFFFFFFF)
    for off, val in (patch or {}).items():
        h[off] = val
    crc = crc32c(bytes(h[:44]))
    struct.pack_into("<I", h, 44, crc if fix_crc else crc ^ 0x00000100)
    return bytes(h)


def payload_size_of(f):
    if "payload" in f:  # codec 1: whatever the coder produced
        return len(f["payload"])
    n = f["channels"] * f["height"] * f["width"]
    return (n + 127) // 128 * 16 * f["bits"]


def frame(f, codes):
    body = header(f) + (f["payload"] if "payload" in f else pack(codes, f["bits"]))
    return body + struct.pack("<I", crc32c(body))


# ---- codec 1: static-model rANS (docs/wire-format.md, "Payload: rANS codec"), written with plain division.
PRECISION_BITS, STATES, STATE_LOW = 12, 8, 1 << 15
TABLE_ID, TABLE_CHANNELS, TABLE_BITS = 0x5107, 3, (1, 3, 4, 8)


def fit_frequencies(counts, bits):
    """1 per symbol, the other 4096 - 2^b slots in proportion to counts, largest remainders first."""
    m, spare = 1 << bits, (1 << PRECISION_BITS) - (1 << bits)
    total = sum(counts)
    if total == 0:
        return [(1 << PRECISION_BITS) // m] * m
    shift = 0
    while (total >> shift) >= (1 << 50):
        shift += 1
    scaled = [c >> shift for c in counts]
    t = sum(scaled) or 1
    freq = [1 + v * spare // t for v in scaled]
    rem = [v * spare % t for v in scaled]
    for _ in range(spare - sum(v * spare // t for v in scaled)):
        best = max(range(m), key=lambda s: (rem[s], -s))
        freq[best] += 1
        rem[best] = 0
    return freq


def golden_tables():
    """{b: [channel][symbol] frequencies}: peaked around the middle code, narrower for higher channels."""
    tables = {}
    for b in TABLE_BITS:
        mid = (1 << b) // 2
        tables[b] = [fit_frequencies([1000000 >> min(40, abs(s - mid) * (c + 1)) for s in range(1 << b)], b)
                     for c in range(TABLE_CHANNELS)]
    return tables


def table_hash(tables):
    data = bytearray()
    for b in sorted(tables):
        data += bytes([b]) + struct.pack("<H", len(tables[b]))
        for row in tables[b]:
            data += struct.pack("<%dH" % len(row), *row)
    return crc32c(bytes(data))


def tables_safetensors(tables, table_id):
    """The table set as the fitting tool stores it: entropy.b{b} U16 [C, 2^b], metadata entropy.table_id."""
    meta, data = {"__metadata__": {"entropy.table_id": str(table_id), "entropy.precision_bits": "12"}}, b""
    for b in sorted(tables):
        raw = b"".join(struct.pack("<%dH" % len(row), *row) for row in tables[b])
        meta["entropy.b%d" % b] = {"dtype": "U16", "shape": [len(tables[b]), 1 << b],
                                   "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(meta, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def rans_payload(codes, channels, plane, bits, tables, table_id, hash_value):
    """Codes CHW; code i uses state i mod 8 and channel i // plane's table. Encodes from the last code back."""
    freq = tables[bits]
    cum = [[sum(row[:s]) for s in range(len(row))] for row in freq]
    x, words = [STATE_LOW] * STATES, []
    for i in reversed(range(len(codes))):
        c, q, j = i // plane, codes[i], i % STATES
        f = freq[c][q]
        if x[j] >= ((STATE_LOW >> PRECISION_BITS) << 16) * f:
            words.append(x[j] & 0xFFFF)
            x[j] >>= 16
        x[j] = ((x[j] // f) << PRECISION_BITS) + x[j] % f + cum[c][q]
    words.reverse()
    return (struct.pack("<HHI", table_id, 0, hash_value) + struct.pack("<8I", *x) +
            struct.pack("<%dH" % len(words), *words))


def sample_codes(n, plane, bits, tables, seed):
    """Codes drawn from the golden tables with xorshift32, so they code well."""
    state, out = seed, []
    for i in range(n):
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        slot, row, s = state % (1 << PRECISION_BITS), tables[bits][i // plane], 0
        while slot >= row[s]:
            slot -= row[s]
            s += 1
        out.append(s)
    return out


def fmt(x):
    return "%.9g" % x


def block(index, offset, f, codes, size):
    lines = ["frame %d" % index, "offset %d" % offset, "frame_size %d" % size]
    for key in ("bound_mode", "codec", "ensemble_size", "bits", "channels", "height", "width"):
        lines.append("%s %d" % (key, f.get(key, 0)))
    lines += ["lo " + fmt(f["lo"]), "hi " + fmt(f["hi"]), "frame_id %d" % f["frame_id"],
              "timestamp_us %d" % f["timestamp_us"], "payload_size %d" % payload_size_of(f),
              "codes " + " ".join(str(q) for q in codes),
              "values " + " ".join(fmt(v) for v in dequantize(codes, f["bits"], f["lo"], f["hi"]))]
    return lines


def write(kind, name, data, lines):
    path = os.path.join(GOLDEN, kind, name)
    with open(path + (".safetensors" if kind == "tables" else ".bin"), "wb") as out:
        out.write(data)
    with open(path + ".txt", "w") as out:
        out.write("\n".join(lines) + "\n")


def fields(c, h, w, bits, s=1, mode=0, lo=-1.0, hi=1.0, frame_id=1, ts=1000, codec=0):
    return dict(channels=c, height=h, width=w, bits=bits, ensemble_size=s, bound_mode=mode, lo=f32(lo),
                hi=f32(hi), frame_id=frame_id, timestamp_us=ts, codec=codec)


OK = [  # name, fields, description
    ("b1_1x1x3", fields(1, 1, 3, 1), "smallest useful frame (hex-dumped in the spec); 3 codes, 125 padding"),
    ("b3_3x5x7", fields(3, 5, 7, 3, s=2, mode=1, lo=-2.5, hi=2.5, frame_id=0xDEADBEEF,
                        ts=0x0123456789ABCDEF), "105 values: one partial group; all-bytes-distinct ids"),
    ("b4_2x9x11", fields(2, 9, 11, 4, s=4, mode=2, lo=-0.75, hi=1.25, frame_id=7, ts=123456789),
     "198 values: one full and one partial group"),
    ("b8_1x16x16", fields(1, 16, 16, 8, s=16, lo=0.0, hi=1.0, frame_id=0xFFFFFFFF, ts=2 ** 64 - 1),
     "256 values: exactly two groups, 8 bits, largest ensemble, largest ids"),
    ("b2_6x4x4", fields(6, 4, 4, 2, s=3, mode=1, lo=-1e-3, hi=3e-3, frame_id=42, ts=0),
     "96 values, 2 bits, small asymmetric bounds"),
    ("b5_7x3x6", fields(7, 3, 6, 5, lo=-6.0, hi=10.0, frame_id=5), "126 values, 5 bits"),
    ("b6_1x1x129", fields(1, 1, 129, 6, lo=-100.0, hi=-50.0, frame_id=6), "129 values: second group holds one"),
    ("b7_5x5x5", fields(5, 5, 5, 7, lo=-1.5, hi=0.5, frame_id=77), "125 values, 7 bits"),
    ("b1_1024x1x1", fields(1024, 1, 1, 1, lo=-3.0, hi=3.0, frame_id=1024), "largest channel count"),
    ("b2_1x1x4096", fields(1, 1, 4096, 2, lo=-4.0, hi=4.0, frame_id=4096), "largest width, 32 groups"),
    ("b3_1x1x8_min_step", fields(1, 1, 8, 3, lo=0.0, hi=7 * 2.0 ** -126, frame_id=8),
     "smallest valid step: (hi - lo) / 7 = 2^-126, the smallest normal binary32"),
    ("b3_1x1x8_step_rounded_up", fields(1, 1, 8, 3, lo=2.0 ** -126 + 2.0 ** -149, hi=2.0 ** -123, frame_id=9),
     "the step rule is binary32: hi - lo = 7 * 2^-126 - 2^-149 exactly rounds to 7 * 2^-126, so step = 2^-126 "
     "(valid), though the exact step is below 2^-126"),
]


RANS_OK = [  # name, fields, description (codes drawn from the golden tables; tables.safetensors)
    ("rans_b1_3x32x32", fields(3, 32, 32, 1, s=1, mode=2, lo=-1.0, hi=1.0, frame_id=201, ts=5000),
     "codec 1 at b = 1: 3,072 codes, planes a multiple of 8"),
    ("rans_b3_3x7x9", fields(3, 7, 9, 3, s=2, mode=1, lo=-2.0, hi=2.0, frame_id=203, ts=5003),
     "codec 1 at b = 3: planes of 63 codes, so channels start in the middle of the 8 states"),
    ("rans_b4_3x16x16", fields(3, 16, 16, 4, s=4, mode=2, lo=-3.0, hi=3.0, frame_id=204, ts=5004),
     "codec 1 at b = 4, the paper's s = 4 point"),
    ("rans_b8_3x5x13", fields(3, 5, 13, 8, s=3, mode=0, lo=-0.5, hi=0.25, frame_id=208, ts=5008),
     "codec 1 at b = 8: 195 codes, an odd plane"),
]


def rans_frame_fields(f, codes, tables, table_id=TABLE_ID, hash_value=None):
    plane = f["height"] * f["width"]
    hv = table_hash(tables) if hash_value is None else hash_value
    payload = rans_payload(codes, f["channels"], plane, f["bits"], tables, table_id, hv)
    return dict(f, codec=1, payload=payload)


def make_rans_ok(made):
    tables = golden_tables()
    with open(os.path.join(GOLDEN, "tables.safetensors"), "wb") as out:
        out.write(tables_safetensors(tables, TABLE_ID))
    for i, (name, f, desc) in enumerate(RANS_OK):
        n = f["channels"] * f["height"] * f["width"]
        codes = sample_codes(n, f["height"] * f["width"], f["bits"], tables, 7000 + i)
        f = rans_frame_fields(f, codes, tables)
        assert len(f["payload"]) < (n + 127) // 128 * 16 * f["bits"], name  # smaller than codec 0
        data = frame(f, codes)
        made[name] = (f, codes, data)
        write("ok", name, data, ["# " + desc + "; tables: tables.safetensors (id 0x%04X, hash 0x%08X)"
                                 % (TABLE_ID, table_hash(tables)), "frames 1"] + block(0, 0, f, codes, len(data)))


def make_ok():
    made = {}
    for i, (name, f, desc) in enumerate(OK):
        n = f["channels"] * f["height"] * f["width"]
        codes = codes_for(n, f["bits"], 1000 + i)
        data = frame(f, codes)
        made[name] = (f, codes, data)
        write("ok", name, data, ["# " + desc, "frames 1"] + block(0, 0, f, codes, len(data)))
    # Three frames back to back, as a stream transport carries them.
    lines, stream = ["# three frames back to back (b1_1x1x3, b3_3x5x7, b4_2x9x11 with frame ids 100..102)",
                     "frames 3"], b""
    for k, name in enumerate(("b1_1x1x3", "b3_3x5x7", "b4_2x9x11")):
        f, codes, _ = made[name]
        f = dict(f, frame_id=100 + k)
        data = frame(f, codes)
        lines += block(k, len(stream), f, codes, len(data))
        stream += data
    write("ok", "stream_3frames", stream, lines)
    make_rans_ok(made)
    return made


def make_err(made):
    base_f, base_codes, base = made["b3_3x5x7"]
    payload = pack(base_codes, base_f["bits"])

    def with_header(hdr, body=payload):
        data = hdr + body
        return data + struct.pack("<I", crc32c(data))

    def err(name, errc, data, note, before=0):
        write("err", "%02d_%s" % (ERRC[errc], name), data,
              ["# " + note, "error " + errc, "errc %d" % ERRC[errc], "frames_before_error %d" % before])

    f = base_f
    err("truncated_in_header", "truncated", base[:47], "first 47 bytes of a valid frame")
    err("truncated_in_payload", "truncated", base[:60], "valid header, payload cut short")
    err("truncated_in_trailer", "truncated", base[:-1], "last byte of the frame CRC missing")
    err("bad_magic", "bad_magic", b"SLMD" + base[4:], "magic 'SLMD'")
    err("bad_magic_text", "bad_magic", b"GET / HTTP/1.1\r\nHost: example\r\n\r\n" + bytes(30),
        "not a frame at all")
    err("version_unsupported", "version_unsupported", with_header(header(f, patch={4: 2})), "version 2")
    err("version_before_header_crc", "version_unsupported", with_header(header(f, fix_crc=False, patch={4: 0})),
        "version 0 and a wrong header CRC: version is checked first")
    err("header_size_invalid", "header_size_invalid", with_header(header(f, patch={5: 47})), "header_size 47")
    err("header_crc_mismatch", "header_crc_mismatch", with_header(header(f, fix_crc=False)),
        "header CRC off by one bit")
    err("header_crc_before_reserved", "header_crc_mismatch",
        with_header(header(f, fix_crc=False, patch={10: 1})),
        "reserved byte 10 set and header CRC wrong: the CRC is checked first")
    err("reserved_flags_bit7", "reserved_nonzero", with_header(header(f, patch={6: 0x80 | f["bound_mode"]})),
        "flags bit 7 set")
    err("reserved_flags_bit2", "reserved_nonzero", with_header(header(f, patch={6: 0x04 | f["bound_mode"]})),
        "flags bit 2 set")
    err("reserved_byte11", "reserved_nonzero", with_header(header(f, patch={11: 0x01})), "byte 11 set")
    err("reserved_byte18", "reserved_nonzero", with_header(header(f, patch={18: 0x20})), "byte 18 set")
    err("bound_mode_3", "reserved_nonzero", with_header(header(dict(f, bound_mode=3))), "bound_mode 3 reserved")
    err("codec_unsupported", "codec_unsupported", with_header(header(dict(f, codec=2))), "codec 2")
    err("codec_before_truncated", "codec_unsupported", header(dict(f, codec=255)),
        "codec 255, header only: header errors come before waiting for the payload")
    err("ensemble_0", "ensemble_out_of_range", with_header(header(dict(f, ensemble_size=0))), "s = 0")
    err("ensemble_17", "ensemble_out_of_range", with_header(header(dict(f, ensemble_size=17))), "s = 17")
    err("ensemble_before_bits", "ensemble_out_of_range",
        with_header(header(dict(f, ensemble_size=0, bits=0), payload_size=len(payload))),
        "s = 0 and b = 0: s is checked first")
    err("bits_0", "bits_out_of_range", with_header(header(dict(f, bits=0), payload_size=len(payload))), "b = 0")
    err("bits_9", "bits_out_of_range", with_header(header(dict(f, bits=9), payload_size=len(payload))), "b = 9")
    err("channels_0", "shape_out_of_range", with_header(header(dict(f, channels=0), payload_size=len(payload))),
        "C = 0")
    err("channels_1025", "shape_out_of_range", header(dict(f, channels=1025)), "C = 1025 (header only)")
    err("height_4097", "shape_out_of_range", header(dict(f, height=4097)), "H = 4097 (header only)")
    err("width_0", "shape_out_of_range", with_header(header(dict(f, width=0), payload_size=len(payload))),
        "W = 0")
    nan, inf = struct.unpack("<f", b"\x00\x00\xc0\x7f")[0], float("inf")
    err("bounds_nan_lo", "bounds_invalid", with_header(header(dict(f, lo=nan))), "lo is NaN")
    err("bounds_inf_hi", "bounds_invalid", with_header(header(dict(f, hi=inf))), "hi is +infinity")
    err("bounds_equal", "bounds_invalid", with_header(header(dict(f, lo=1.0, hi=1.0))), "lo == hi")
    err("bounds_reversed", "bounds_invalid", with_header(header(dict(f, lo=2.0, hi=-2.0))), "lo > hi")
    err("bounds_signed_zeros", "bounds_invalid", with_header(header(dict(f, lo=0.0, hi=-0.0))),
        "lo = +0, hi = -0: equal as numbers")
    err("bounds_2p125", "bounds_invalid", with_header(header(dict(f, lo=-1.0, hi=2.0 ** 125))),
        "hi = 2^125: finite, but at or above the 2^125 magnitude limit")
    err("bounds_width_2m149", "bounds_invalid", with_header(header(dict(f, lo=0.0, hi=2.0 ** -149))),
        "lo = 0, hi = 2^-149: step rounds to 0 and L / (hi - lo) is infinite")
    err("bounds_step_subnormal", "bounds_invalid", with_header(header(dict(f, lo=0.0, hi=2.0 ** -124))),
        "lo = 0, hi = 2^-124, b = 3: hi - lo is normal but step = 2^-124 / 7 is subnormal")
    err("length_mismatch", "length_mismatch",
        with_header(header(f, payload_size=len(payload) + 1), payload + b"\x00"),
        "payload_size one more than the codec's size, frame otherwise consistent")
    err("length_mismatch_wraps_32bit", "length_mismatch",
        header(dict(f, channels=1024, height=4096, width=4096, bits=8), payload_size=0),
        "expected size 2^34 does not fit 32 bits; payload_size 0 (= 2^34 mod 2^32) must not match")
    err("length_mismatch_before_too_large", "length_mismatch", header(f, payload_size=0xFFFFFFFF),
        "payload_size 0xFFFFFFFF: wrong for the shape and above the limit; mismatch is reported")
    err("length_too_large", "length_too_large", header(dict(f, channels=1024, height=128, width=256, bits=8)),
        "consistent 32 MiB payload, above the default 16 MiB limit (header only)")
    body = bytearray(base)
    body[48 + 3] ^= 0x10
    err("crc_mismatch_payload", "crc_mismatch", bytes(body), "one payload bit flipped")
    body = bytearray(base)
    body[-1] ^= 0x80
    err("crc_mismatch_trailer", "crc_mismatch", bytes(body), "one trailer bit flipped")
    body = bytearray(made["b1_1x1x3"][2] + base)
    body[-10] ^= 0x01
    err("crc_mismatch_second_frame", "crc_mismatch", bytes(body),
        "two frames back to back; the second one's payload is corrupt", before=1)
    # Bytes after a frame are the start of the next one (docs/wire-format.md, "Trailing bytes").
    one = made["b1_1x1x3"][2]
    err("trailing_bytes_short", "truncated", one + bytes(5),
        "a valid frame followed by 5 zero bytes: the next frame is truncated", before=1)
    err("trailing_bytes_zeros", "bad_magic", one + bytes(48),
        "a valid frame followed by 48 zero bytes: the next frame has a bad magic", before=1)


def make_rans_err(made):
    """Codec-1 frames with a valid frame CRC that fail: at the header (length rule) or when decoded with the
    golden tables (tables.safetensors)."""
    tables = golden_tables()
    f, codes, _ = made["rans_b4_3x16x16"]
    good = f["payload"]

    def err(name, errc, fields_, note, payload=None):
        ff = dict(fields_, payload=good if payload is None else payload)
        write("err", "%02d_%s" % (ERRC[errc], name), frame(ff, codes),
              ["# " + note, "error " + errc, "errc %d" % ERRC[errc], "frames_before_error 0"])

    raw = 3 * 16 * 16 // 128 * 16 * 4
    err("rans_length_odd", "length_mismatch", f, "codec 1, payload_size odd", good + b"\x00")
    err("rans_length_not_smaller", "length_mismatch", f, "codec 1, payload_size equal to codec 0's (%d)" % raw,
        good + bytes(raw - len(good)))
    err("rans_length_below_40", "length_mismatch", f, "codec 1, payload_size 38", good[:38])
    # The value cap, C*H*W <= 256 * payload_size, judged from the header alone (before any allocation).
    err("rans_values_above_cap", "length_mismatch", dict(f, channels=7, height=77, width=19),
        "codec 1, 7 x 77 x 19 = 10241 values in a 40-byte payload: above 256 values per payload byte", good[:40])
    err("rans_values_at_cap", "entropy_table_mismatch", dict(f, channels=5, height=32, width=64),
        "codec 1, 5 x 32 x 64 = 10240 values in a 40-byte payload: exactly 256 per byte passes the length rule; the "
        "tables (C = 3) then do not match", good[:40])
    err("rans_92_bytes_6x4096x4096", "length_mismatch", dict(f, channels=6, height=4096, width=4096),
        "codec 1, a 92-byte frame declaring 6 x 4096 x 4096 values (400 MB of floats) in a 40-byte payload",
        good[:40])
    bad = bytearray(good)
    bad[2] = 1
    err("rans_reserved_payload", "reserved_nonzero", f, "codec 1, payload byte 2 (reserved) set", bytes(bad))
    bad = bytearray(good)
    bad[0] ^= 1
    err("rans_table_id", "entropy_table_mismatch", f, "codec 1, table_id off by one bit", bytes(bad))
    bad = bytearray(good)
    bad[7] ^= 0x40
    err("rans_table_hash", "entropy_table_mismatch", f, "codec 1, table_hash off by one bit", bytes(bad))
    f2 = dict(f, bits=2)  # tables.safetensors has no table for b = 2
    err("rans_no_table_for_b", "entropy_table_mismatch", f2,
        "codec 1 at b = 2 (the first 120 bytes of the b = 4 payload): the tables cover b = 1, 3, 4, 8",
        good[:120])
    bad = bytearray(good)
    struct.pack_into("<I", bad, 8 + 4 * 5, STATE_LOW - 1)
    err("rans_state_low", "entropy_stream_invalid", f, "codec 1, state 5 is 2^15 - 1", bytes(bad))
    bad = bytearray(good)
    struct.pack_into("<I", bad, 8, 1 << 31)
    err("rans_state_high", "entropy_stream_invalid", f, "codec 1, state 0 is 2^31", bytes(bad))
    err("rans_stream_short", "entropy_stream_invalid", f, "codec 1, last word missing", good[:-2])
    err("rans_stream_long", "entropy_stream_invalid", f, "codec 1, one word too many", good + b"\x34\x12")
    bad = bytearray(good)
    bad[50] ^= 0x01
    err("rans_word_flipped", "entropy_stream_invalid", f, "codec 1, one bit of word 5 flipped (frame CRC fixed)",
        bytes(bad))
    # Frame k is decoded (payload included) before frame k + 1 is parsed: the first error in stream order wins.
    write("err", "40_rans_then_truncated", frame(dict(f, payload=bytes(bad)), codes) + made["b1_1x1x3"][2][:47],
          ["# codec 1 with one word bit flipped (error 40 when decoded), then 47 bytes of a next frame (truncated): "
           "frame 0's error comes first", "error entropy_stream_invalid", "errc 40", "frames_before_error 0"])


# ---- codec-1 table files (docs/wire-format.md, "Table files"): tests/golden/tables/NAME.safetensors + NAME.txt.
TABLE_FILE_ERRC = {"format_invalid": 72, "tensor_missing": 74, "tensor_shape_mismatch": 78,
                   "tensor_dtype_mismatch": 80, "entropy_table_invalid": 84}


def safetensors_file(tensors, metadata):
    """tensors: [(name, dtype, shape, raw bytes)] in data order; metadata: {key: string} or None."""
    head, data = {}, b""
    if metadata is not None:
        head["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        head[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(head, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def u16_rows(rows):
    return b"".join(struct.pack("<%dH" % len(row), *row) for row in rows)


def make_tables():
    """Table files a loader must accept (ok_*) or refuse with the error their name starts with."""
    tables = golden_tables()
    meta = {"entropy.table_id": str(TABLE_ID), "entropy.precision_bits": "12"}

    def tensors(t=tables, dtype=None, shape=None):
        dtype, shape = dtype or {}, shape or {}
        return [("entropy.b%d" % b, dtype.get(b, "U16"), shape.get(b, [len(t[b]), 1 << b]), u16_rows(t[b]))
                for b in sorted(t)]

    def ok(name, note, ts, metadata, table_id):
        write("tables", name, safetensors_file(ts, metadata),
              ["# " + note, "table_id %d" % table_id, "table_hash 0x%08X" % table_hash(tables),
               "channels %d" % TABLE_CHANNELS, "bits " + " ".join(str(b) for b in sorted(tables))])

    def err(name, errc, note, ts, metadata=meta):
        write("tables", "%02d_%s" % (TABLE_FILE_ERRC[errc], name), safetensors_file(ts, metadata),
              ["# " + note, "error " + errc, "errc %d" % TABLE_FILE_ERRC[errc]])

    ok("ok_other_keys_ignored", "the golden tables beside what a loader ignores: entropy.precision_bits 16, tensors "
       "entropy.b0 and entropy.b9 (b outside 1..8), an F32 weight", tensors() + [
           ("entropy.b0", "U16", [3, 1], u16_rows([[4096]] * 3)), ("entropy.b9", "U16", [3, 512], bytes(3 * 1024)),
           ("encoder.weight", "F32", [2], struct.pack("<2f", 0.5, -0.5))],
       dict(meta, **{"entropy.precision_bits": "16"}), TABLE_ID)
    ok("ok_table_id_leading_zeros", "entropy.table_id 00042: 1 to 5 decimal digits, leading zeros allowed",
       tensors(), dict(meta, **{"entropy.table_id": "00042"}), 42)

    err("table_id_missing", "format_invalid", "no entropy.table_id in __metadata__", tensors(),
        {"entropy.precision_bits": "12"})
    err("table_id_six_digits", "format_invalid", "entropy.table_id 020743: more than 5 characters", tensors(),
        dict(meta, **{"entropy.table_id": "020743"}))
    err("table_id_65536", "format_invalid", "entropy.table_id 65536: above 65535", tensors(),
        dict(meta, **{"entropy.table_id": "65536"}))
    err("table_id_hex", "format_invalid", "entropy.table_id 0x5107: decimal digits only", tensors(),
        dict(meta, **{"entropy.table_id": "0x5107"}))
    err("table_id_before_frequencies", "format_invalid",
        "entropy.table_id missing and a zero frequency: the id is checked before the frequencies",
        tensors({**tables, 3: [[0] + tables[3][0][1:-1] + [tables[3][0][-1] + tables[3][0][0]]] +
                                tables[3][1:]}), None)
    err("no_table_for_1_to_8", "tensor_missing", "tensors entropy.b0, entropy.b9 and entropy.b10 only",
        [("entropy.b0", "U16", [3, 1], u16_rows([[4096]] * 3)), ("entropy.b9", "U16", [3, 512], bytes(3 * 1024)),
         ("entropy.b10", "U16", [1, 1024], bytes(2048))])
    err("tensors_before_table_id", "tensor_missing", "no entropy.b{b} tensor and no metadata at all: tensors first",
        [("encoder.weight", "F32", [2], struct.pack("<2f", 0.5, -0.5))], None)
    err("channels_differ_per_b", "tensor_shape_mismatch", "entropy.b1 has C = 3, entropy.b3 has C = 2",
        tensors({**tables, 3: tables[3][:2]}))
    err("shape_not_2_to_b", "tensor_shape_mismatch", "entropy.b3 stored as [6, 4] (the right byte count, wrong shape)",
        tensors(shape={3: [6, 4]}))
    err("rank_1", "tensor_shape_mismatch", "entropy.b1 stored as [6] (rank 1)", tensors(shape={1: [6]}))
    err("dtype_i16", "tensor_dtype_mismatch", "entropy.b4 stored as I16 (same bytes)", tensors(dtype={4: "I16"}))
    err("b1_before_b3", "tensor_shape_mismatch",
        "entropy.b1 has a wrong shape, entropy.b3 a wrong dtype: b in increasing order", tensors(
            dtype={3: "I16"}, shape={1: [2, 3]}))
    err("dtype_before_shape", "tensor_dtype_mismatch", "entropy.b4 as I16 with shape [3, 8, 2]: dtype first",
        tensors(dtype={4: "I16"}, shape={4: [3, 8, 2]}))
    row = tables[3][1]
    err("zero_frequency", "entropy_table_invalid", "entropy.b3 channel 1: a frequency 0 (still summing to 4096)",
        tensors({**tables, 3: [tables[3][0], [0] + row[1:-1] + [row[-1] + row[0]], tables[3][2]]}))
    err("sum_4095", "entropy_table_invalid", "entropy.b8 channel 2 sums to 4095",
        tensors({**tables, 8: tables[8][:2] + [tables[8][2][:-1] + [tables[8][2][-1] - 1]]}))
    err("sum_wraps_16_bits", "entropy_table_invalid",
        "entropy.b1 channel 0 is [4097, 65535]: the sum 69632 is 4096 only modulo 2^16",
        tensors({**tables, 1: [[4097, 65535]] + tables[1][1:]}))


def generate(out_dir):
    """Writes every golden file under out_dir/{ok,err}, replacing the .bin/.txt files already there."""
    global GOLDEN
    GOLDEN = out_dir
    for kind in ("ok", "err", "tables"):
        os.makedirs(os.path.join(out_dir, kind), exist_ok=True)
        for old in os.listdir(os.path.join(out_dir, kind)):
            if old.endswith((".bin", ".txt", ".safetensors")):
                os.remove(os.path.join(out_dir, kind, old))
    assert crc32c(b"123456789") == 0xE3069283
    made = make_ok()
    make_err(made)
    make_rans_err(made)
    make_tables()


if __name__ == "__main__":
    generate(sys.argv[1] if len(sys.argv) > 1 else GOLDEN)
