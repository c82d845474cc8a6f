#!/usr/bin/env python3
"""Educational decoder for the slimcodec frame format, version 1.

Written from docs/wire-format.md alone and laid out like it: each section below is a section of the spec.
Plain Python 3 standard library; clarity over speed.

    educational_decoder.py FILE [--values] [--limit BYTES] [--tables TABLES.safetensors]

decodes FILE as a stream of frames, prints each header (and with --values the reconstructed tensor), and
exits with 0 if every frame decodes, or prints "error NAME (NUMBER) ..." and exits with 1.
"""
import argparse
import json
import struct
import sys

# ---------------------------------------------------------------------------------------------- Conventions
# Integers are unsigned little-endian; binary32 is an IEEE-754 float stored little-endian.


def u8(buf, offset):
    return buf[offset]


def u16(buf, offset):
    return struct.unpack_from("<H", buf, offset)[0]


def u32(buf, offset):
    return struct.unpack_from("<I", buf, offset)[0]


def u64(buf, offset):
    return struct.unpack_from("<Q", buf, offset)[0]


def binary32(buf, offset):
    return struct.unpack_from("<f", buf, offset)[0]


def to_binary32(x):
    """Rounds a Python float (binary64) to the nearest binary32, as a binary32 operation would."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


# Errors: stable names and numbers ("Validation order and errors").
ERRORS = {
    "truncated": 10, "bad_magic": 12, "version_unsupported": 14, "reserved_nonzero": 16,
    "header_size_invalid": 18, "header_crc_mismatch": 20, "bits_out_of_range": 22,
    "ensemble_out_of_range": 24, "shape_out_of_range": 26, "bounds_invalid": 28, "codec_unsupported": 30,
    "length_mismatch": 32, "length_too_large": 34, "crc_mismatch": 36, "entropy_table_mismatch": 38,
    "entropy_stream_invalid": 40,
}


class FrameError(Exception):
    def __init__(self, name, detail=""):
        super().__init__("%s (%d)%s" % (name, ERRORS[name], ": " + detail if detail else ""))
        self.name = name
        self.number = ERRORS[name]


# -------------------------------------------------------------------------------------------------- Frame
# | header 48 bytes | payload payload_size bytes | frame_crc 4 bytes |
HEADER_SIZE = 48
TRAILER_SIZE = 4

# ------------------------------------------------------------------------------------------------- Header
MAGIC = b"SLMC"
VERSION = 1
MAX_CHANNELS, MAX_HEIGHT, MAX_WIDTH = 1024, 4096, 4096
DEFAULT_PAYLOAD_LIMIT = 16 * 1024 * 1024
BOUND_MODES = {0: "explicit", 1: "from sigma", 2: "from ensemble size"}


def bound_in_range(buf, offset):
    """Finite and |v| < 2^125: the biased exponent (bits 23-30 of the pattern) is at most 251."""
    return (u32(buf, offset) >> 23) & 0xFF <= 251


def parse_header(buf, limit):
    """Validation order steps 2-13 on the 48 header bytes; returns the fields as a dict."""
    if buf[0:4] != MAGIC:
        raise FrameError("bad_magic")
    if u8(buf, 4) != VERSION:
        raise FrameError("version_unsupported", "version %d" % u8(buf, 4))
    if u8(buf, 5) != HEADER_SIZE:
        raise FrameError("header_size_invalid", "header_size %d" % u8(buf, 5))
    if crc32c(buf[0:44]) != u32(buf, 44):
        raise FrameError("header_crc_mismatch")
    flags = u8(buf, 6)
    if flags & 0xFC:
        raise FrameError("reserved_nonzero", "flags bits 2-7")
    if u16(buf, 10) != 0:
        raise FrameError("reserved_nonzero", "bytes 10-11")
    if u16(buf, 18) != 0:
        raise FrameError("reserved_nonzero", "bytes 18-19")
    bound_mode = flags & 0x03
    if bound_mode == 3:
        raise FrameError("reserved_nonzero", "bound_mode 3")
    codec = u8(buf, 7)
    if codec not in (0, 1):
        raise FrameError("codec_unsupported", "codec %d" % codec)
    ensemble_size = u8(buf, 8)
    if not 1 <= ensemble_size <= 16:
        raise FrameError("ensemble_out_of_range", "s = %d" % ensemble_size)
    bits = u8(buf, 9)
    if not 1 <= bits <= 8:
        raise FrameError("bits_out_of_range", "b = %d" % bits)
    channels, height, width = u16(buf, 12), u16(buf, 14), u16(buf, 16)
    if not 1 <= channels <= MAX_CHANNELS:
        raise FrameError("shape_out_of_range", "channels %d" % channels)
    if not 1 <= height <= MAX_HEIGHT:
        raise FrameError("shape_out_of_range", "height %d" % height)
    if not 1 <= width <= MAX_WIDTH:
        raise FrameError("shape_out_of_range", "width %d" % width)
    if not (bound_in_range(buf, 20) and bound_in_range(buf, 24)):
        raise FrameError("bounds_invalid", "not finite or not below 2^125")
    lo, hi = binary32(buf, 20), binary32(buf, 24)
    if not lo < hi:
        raise FrameError("bounds_invalid", "lo %r is not below hi %r" % (lo, hi))
    if not to_binary32(to_binary32(hi - lo) / ((1 << bits) - 1)) >= 2.0 ** -126:
        raise FrameError("bounds_invalid", "step (hi - lo) / L is not a normal binary32 number")
    payload_size = u32(buf, 40)
    raw_size = raw_bitpack_size(channels * height * width, bits)
    if codec == 0 and payload_size != raw_size:
        raise FrameError("length_mismatch", "payload_size %d" % payload_size)
    if codec == 1 and not (payload_size >= RANS_HEADER and payload_size % 2 == 0 and payload_size < raw_size):
        raise FrameError("length_mismatch", "codec 1 payload_size %d (codec 0: %d)" % (payload_size, raw_size))
    if codec == 1 and channels * height * width > RANS_MAX_VALUES_PER_BYTE * payload_size:
        raise FrameError("length_mismatch", "codec 1: %d values in %d payload bytes (at most %d per byte)"
                         % (channels * height * width, payload_size, RANS_MAX_VALUES_PER_BYTE))
    if payload_size > limit:
        raise FrameError("length_too_large", "payload_size %d > limit %d" % (payload_size, limit))
    return dict(bound_mode=bound_mode, codec=codec, ensemble_size=ensemble_size, bits=bits, channels=channels,
                height=height, width=width, lo=lo, hi=hi, frame_id=u32(buf, 28), timestamp_us=u64(buf, 32),
                payload_size=payload_size)


# ------------------------------------------------------------------------ Payload: raw bit-pack (codec 0)
GROUP_VALUES, GROUP_LANES = 128, 16


def raw_bitpack_size(n, bits):
    """ceil(n / 128) * 16 * b, with Python's unbounded integers (no 32-bit wrap)."""
    return (n + GROUP_VALUES - 1) // GROUP_VALUES * GROUP_LANES * bits


def unpack_codes(payload, n, bits):
    """Code i: group g = i/128, slot j = (i mod 128)/16, lane l = i mod 16; W = sum of bytes 16k+l << 8k."""
    levels = (1 << bits) - 1
    codes = []
    for i in range(n):
        g, j, lane = i // 128, (i % 128) // 16, i % 16
        base = 16 * bits * g
        word = 0
        for k in range(bits):
            word |= payload[base + 16 * k + lane] << (8 * k)
        codes.append((word >> (j * bits)) & levels)
    return codes


def dequantize(codes, bits, lo, hi):
    """x' = lo + q * step, step = (hi - lo) / L, every operation rounded to binary32 (no FMA)."""
    levels = (1 << bits) - 1
    step = to_binary32(to_binary32(hi - lo) / levels)
    return [to_binary32(lo + to_binary32(q * step)) for q in codes]


# ----------------------------------------------------------------------------- Payload: rANS codec (codec 1)
# | table_id u16 | reserved u16 | table_hash u32 | state_0 .. state_7 u32 | words u16 ... |
RANS_HEADER, PRECISION_BITS, STATES, STATE_LOW = 40, 12, 8, 1 << 15
RANS_MAX_VALUES_PER_BYTE = 256  # codec 1: C*H*W <= 256 * payload_size


# Table files (safetensors): metadata entropy.table_id, tensors entropy.b{b} U16 [C, 2^b] for b in 1..8.
TABLE_FILE_ERRORS = {"format_invalid": 72, "tensor_missing": 74, "tensor_shape_mismatch": 78,
                     "tensor_dtype_mismatch": 80, "entropy_table_invalid": 84}


class TableFileError(Exception):
    def __init__(self, name, detail=""):
        super().__init__("%s (%d)%s" % (name, TABLE_FILE_ERRORS[name], ": " + detail if detail else ""))
        self.name = name
        self.number = TABLE_FILE_ERRORS[name]


def load_tables(path):
    """A table set from a safetensors file, checked in the spec's order; raises TableFileError. The container
    itself (header length, JSON, data_offsets) is taken as valid here."""
    with open(path, "rb") as f:
        data = f.read()
    n = u64(data, 0)
    head = json.loads(data[8:8 + n])
    meta = head.get("__metadata__", {})
    tables, channels = {"bits": {}}, None
    for b in range(1, 9):  # other names (entropy.b0, entropy.b9, weights) are not tables
        t = head.get("entropy.b%d" % b)
        if t is None:
            continue
        if t["dtype"] != "U16":
            raise TableFileError("tensor_dtype_mismatch", "entropy.b%d is %s" % (b, t["dtype"]))
        shape = t["shape"]
        if len(shape) != 2 or shape[1] != 1 << b or not 1 <= shape[0] <= MAX_CHANNELS or \
                (channels is not None and shape[0] != channels):
            raise TableFileError("tensor_shape_mismatch", "entropy.b%d has shape %s" % (b, shape))
        channels = shape[0]
        begin = t["data_offsets"][0]
        flat = struct.unpack_from("<%dH" % (channels << b), data, 8 + n + begin)
        tables["bits"][b] = [list(flat[c << b:(c + 1) << b]) for c in range(channels)]
    if channels is None:
        raise TableFileError("tensor_missing", "no entropy.b{b} tensor for b in 1..8")
    text = meta.get("entropy.table_id", "")
    if not 1 <= len(text) <= 5 or not all("0" <= ch <= "9" for ch in text) or int(text) > 0xFFFF:
        raise TableFileError("format_invalid", "entropy.table_id %r" % text)
    tables["id"] = int(text)
    hashed = bytearray()
    for b in sorted(tables["bits"]):
        hashed += bytes([b]) + struct.pack("<H", channels)
        for c, row in enumerate(tables["bits"][b]):
            if min(row) < 1 or sum(row) != 1 << PRECISION_BITS:  # Python's sum does not wrap
                raise TableFileError("entropy_table_invalid", "entropy.b%d channel %d" % (b, c))
            hashed += struct.pack("<%dH" % len(row), *row)
    tables["hash"] = crc32c(bytes(hashed))
    return tables


def rans_decode(payload, header, tables):
    """Code i uses state i mod 8 and the table of channel i // (H*W); 16-bit words are read in order."""
    if tables is None:  # no table set at all: step 16, before the payload is looked at
        raise FrameError("entropy_table_mismatch", "codec-1 frame and no table set loaded")
    if u16(payload, 2) != 0:
        raise FrameError("reserved_nonzero", "codec-1 payload bytes 2-3")
    if u16(payload, 0) != tables["id"] or u32(payload, 4) != tables["hash"]:
        raise FrameError("entropy_table_mismatch", "table_id %d, table_hash 0x%08X" % (u16(payload, 0),
                                                                                     u32(payload, 4)))
    bits, channels, plane = header["bits"], header["channels"], header["height"] * header["width"]
    if bits not in tables["bits"] or len(tables["bits"][bits]) != channels:
        raise FrameError("entropy_table_mismatch", "no table for b = %d and C = %d" % (bits, channels))
    x = [u32(payload, 8 + 4 * j) for j in range(STATES)]
    if any(not STATE_LOW <= s < 1 << 31 for s in x):
        raise FrameError("entropy_stream_invalid", "a state outside [2^15, 2^31)")
    pos, codes = RANS_HEADER, []
    for i in range(channels * plane):
        freq, j = tables["bits"][bits][i // plane], i % STATES
        slot, cum, q = x[j] % (1 << PRECISION_BITS), 0, 0
        while slot >= cum + freq[q]:
            cum += freq[q]
            q += 1
        x[j] = freq[q] * (x[j] >> PRECISION_BITS) + slot - cum
        if x[j] < STATE_LOW:
            if pos + 2 > len(payload):
                raise FrameError("entropy_stream_invalid", "stream ends before code %d" % i)
            x[j] = (x[j] << 16) | u16(payload, pos)
            pos += 2
        codes.append(q)
    if pos != len(payload) or any(s != STATE_LOW for s in x):
        raise FrameError("entropy_stream_invalid", "words left over or a final state is not 2^15")
    return codes


# ------------------------------------------------------------------------------------ frame_crc, CRC-32C


def crc32c(data):
    """Castagnoli, reflected polynomial 0x82F63B78, init and xorout 0xFFFFFFFF; check value 0xE3069283."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


# ------------------------------------------------------------------------------ Validation order, a frame


def decode_frame(data, offset=0, limit=DEFAULT_PAYLOAD_LIMIT):
    """Steps 1-15 for the frame at data[offset:]. Returns (header dict, payload bytes, frame size)."""
    buf = memoryview(data)[offset:]
    if len(buf) < HEADER_SIZE:
        raise FrameError("truncated", "%d bytes, no complete header" % len(buf))
    header = parse_header(bytes(buf[:HEADER_SIZE]), limit)
    size = HEADER_SIZE + header["payload_size"] + TRAILER_SIZE
    if len(buf) < size:
        raise FrameError("truncated", "%d of %d bytes" % (len(buf), size))
    body = HEADER_SIZE + header["payload_size"]
    if crc32c(buf[:body]) != u32(buf, body):
        raise FrameError("crc_mismatch")
    return header, bytes(buf[HEADER_SIZE:body]), size


# ---------------------------------------------------------------------------------------- Stream framing


def decode_stream(data, limit=DEFAULT_PAYLOAD_LIMIT, tables=None):
    """Frames back to back; stops at the first error (no resynchronisation). Frame k is decoded, payload
    included, before frame k + 1 is parsed, so the first error in stream order is the one reported. Returns
    (frames, error or None), each frame a dict of the header fields plus offset, frame_size, codes and values.
    Codec-1 frames need the table set they name (load_tables)."""
    frames, offset = [], 0
    while offset < len(data):
        try:
            header, payload, size = decode_frame(data, offset, limit)
        except FrameError as err:
            return frames, err
        n = header["channels"] * header["height"] * header["width"]
        try:
            codes = unpack_codes(payload, n, header["bits"]) if header["codec"] == 0 else \
                rans_decode(payload, header, tables)
        except FrameError as err:
            return frames, err
        frames.append(dict(header, offset=offset, frame_size=size, codes=codes,
                           values=dequantize(codes, header["bits"], header["lo"], header["hi"])))
        offset += size
    return frames, None


# -------------------------------------------------------------------------------------------------- main


def main(argv):
    parser = argparse.ArgumentParser(description="Decode a file of slimcodec v1 frames.")
    parser.add_argument("file")
    parser.add_argument("--values", action="store_true", help="print the reconstructed values")
    parser.add_argument("--limit", type=int, default=DEFAULT_PAYLOAD_LIMIT, help="payload limit in bytes")
    parser.add_argument("--tables", help="safetensors file with the entropy tables codec-1 frames name")
    args = parser.parse_args(argv[1:])
    show_values = args.values
    with open(args.file, "rb") as f:
        data = f.read()
    try:
        tables = load_tables(args.tables) if args.tables else None
    except TableFileError as err:
        print("error %s in table file %s" % (err, args.tables))
        return 1
    frames, error = decode_stream(data, args.limit, tables)
    for k, fr in enumerate(frames):
        print("frame %d at offset %d, %d bytes" % (k, fr["offset"], fr["frame_size"]))
        print("  bound_mode %d (%s), codec %d, ensemble_size %d, bits %d" % (
            fr["bound_mode"], BOUND_MODES[fr["bound_mode"]], fr["codec"], fr["ensemble_size"], fr["bits"]))
        print("  shape %d x %d x %d, lo %.9g, hi %.9g" % (fr["channels"], fr["height"], fr["width"], fr["lo"],
                                                          fr["hi"]))
        print("  frame_id %d, timestamp_us %d, payload_size %d" % (fr["frame_id"], fr["timestamp_us"],
                                                                   fr["payload_size"]))
        if show_values:
            print("  values " + " ".join("%.9g" % v for v in fr["values"]))
    if error is not None:
        print("error %s after %d frame(s)" % (error, len(frames)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
