"""Writes tests/golden_replies/{ok,err}/*.bin and their .txt sidecars: decode-service replies (version 2) built from
docs/wire-format.md ("Reply") alone, byte by byte, so another language's reader can check itself against them.
Run from anywhere with python3 (standard library only); the C++ test checks the files and that write_reply()
reproduces every ok one.

Sidecars: `# comment`, then for ok files `replies N` and per reply `R.field value` lines (R = index in the file;
detections as `R.detection.I class score x1 y1 x2 y2`); for err files `error NAME`, `errc N` and `replies_before_error K`.
"""
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def reply(status=0, frame_id=1, decode_us=0, timestamp_us=0, digest=0, shape=(0, 0, 0), detections=(),
          version=2, magic=b"SLMR", count=None, reserved6=0, record_reserved=None, fix_crc=True):
    head = magic + struct.pack("<BBH I I Q Q HHH H", version, status, reserved6, frame_id, decode_us, timestamp_us,
                               digest, *shape, len(detections) if count is None else count)
    body = bytearray(head)
    for i, (cls, score, x1, y1, x2, y2) in enumerate(detections):
        reserved = record_reserved[i] if record_reserved else 0
        body += struct.pack("<HHfffff", cls, reserved, score, x1, y1, x2, y2)
    crc = crc32c(bytes(body))
    if not fix_crc:
        crc ^= 0x00010000
    return bytes(body) + struct.pack("<I", crc)


def fields(index, status, frame_id, decode_us, timestamp_us, digest, shape, detections):
    lines = [f"{index}.status {status}", f"{index}.frame_id {frame_id}", f"{index}.decode_us {decode_us}",
             f"{index}.timestamp_us {timestamp_us}", f"{index}.digest {digest}",
             f"{index}.out_shape {shape[0]} {shape[1]} {shape[2]}", f"{index}.detection_count {len(detections)}"]
    for i, d in enumerate(detections):
        lines.append(f"{index}.detection.{i} " + " ".join(repr(float(v)) if j else str(v) for j, v in enumerate(d)))
    return lines


OK_REPLY = dict(status=0, frame_id=7, decode_us=41250, timestamp_us=1_000_000, digest=0x0123456789ABCDEF,
                shape=(84, 128, 128))
DETS = [(0, 0.875, 100.5, 40.25, 180.0, 300.75), (2, 0.5, -3.5, 10.0, 60.0, 44.5), (79, 0.125, 0.0, 0.0, 512.0, 512.0)]
ERR_REPLY = dict(status=102, frame_id=9, decode_us=0, timestamp_us=5, digest=0, shape=(0, 0, 0))


def ok_files():
    out = {}
    out["empty_result"] = ("a backend without a task result: empty result section (44 bytes)",
                           [dict(OK_REPLY, digest=0xCBF29CE484222325, shape=(24, 128, 128), detections=[])])
    out["detections_3"] = ("three detections, best first (classes 0, 2, 79)", [dict(OK_REPLY, detections=DETS)])
    out["detections_100"] = ("the most a reply carries: 100 detections", [
        dict(OK_REPLY, frame_id=8, detections=[(i % 80, 1.0 - i / 128, float(i), float(2 * i), float(i + 10),
                                                 float(2 * i + 20)) for i in range(100)])])
    out["status_102_backend_failed"] = ("an error reply: status 102, empty result", [dict(ERR_REPLY, detections=[])])
    out["status_106_out_of_memory"] = ("an error reply: status 106, the server had no memory for this frame",
                                       [dict(ERR_REPLY, status=106, detections=[])])
    out["status_110_output_not_finite"] = (
        "an error reply: status 110, the backend's output held NaN or infinity (never answered as ok)",
        [dict(ERR_REPLY, status=110, detections=[])])
    out["status_12_stream_error"] = ("the one reply that ends a stream rejected before any valid header: frame_id 0",
                                     [dict(ERR_REPLY, status=12, frame_id=0, timestamp_us=0, detections=[])])
    out["unchecked_fields"] = (
        "what a reader does not check: digest 0 with status 0, scores in ascending order, a score of -0.0, inverted "
        "boxes (x1 > x2, y1 > y2), class_id 65535, a subnormal score",
        [dict(OK_REPLY, frame_id=11, digest=0, detections=[(65535, -0.0, 10.0, 20.0, 5.0, 8.0),
                                                            (3, 2.0 ** -149, -1.0, -2.0, -3.0, -4.0),
                                                            (4, 1.0, 0.0, 0.0, 0.0, 0.0)])])
    out["status_200_fields_ignored"] = (
        "status 200 (no error has that number yet: a reader takes any status other than 0 as an error) with a "
        "digest and an output shape, which a reader ignores on error",
        [dict(ERR_REPLY, status=200, frame_id=12, digest=0x1234, shape=(1, 2, 3), detections=[])])
    out["stream_3"] = ("three replies back to back (a TCP stream): detections, empty, error 108", [
        dict(OK_REPLY, frame_id=1, detections=DETS[:2]), dict(OK_REPLY, frame_id=2, detections=[]),
        dict(ERR_REPLY, status=108, frame_id=3, detections=[])])
    return out


def err_files():
    good = reply(**OK_REPLY, detections=DETS)
    out = {}
    out["10_truncated_in_head"] = ("39 bytes: the head is incomplete", good[:39], 0)
    out["10_truncated_in_detections"] = ("a reply cut inside its second detection", good[:40 + 24 + 10], 0)
    out["10_trailing_bytes_short"] = ("a valid reply followed by 5 zero bytes: the next reply is truncated",
                                      reply(**OK_REPLY, detections=[]) + bytes(5), 1)
    out["12_bad_magic_head_only"] = ("40 bytes, the head of a frame (magic SLMC): the head's checks come before the "
                                     "size check, so every reader reports bad_magic",
                                     reply(**OK_REPLY, detections=[], magic=b"SLMC")[:40], 0)
    out["10_truncated_after_head"] = ("43 bytes of a 44-byte reply: a valid head, then the CRC cut short",
                                      reply(**OK_REPLY, detections=[])[:43], 0)
    out["34_detection_count_101_head_only"] = ("the 40-byte head alone, detection_count 101",
                                               reply(**OK_REPLY, detections=[], count=101)[:40], 0)
    out["12_bad_magic"] = ("magic SLMC (a frame, not a reply)", reply(**OK_REPLY, detections=DETS, magic=b"SLMC"), 0)
    out["14_version_1"] = ("a version-1 reply (44 bytes, no result section): readers of version 2 refuse it",
                           reply(**OK_REPLY, detections=[], version=1), 0)
    out["14_version_3"] = ("version 3", reply(**OK_REPLY, detections=[], version=3), 0)
    out["34_detection_count_101"] = ("detection_count 101 (above 100), checked before waiting for the records",
                                     reply(**OK_REPLY, detections=[], count=101), 0)
    out["36_crc_mismatch"] = ("reply_crc off by one bit", reply(**OK_REPLY, detections=DETS, fix_crc=False), 0)
    out["36_crc_before_reserved"] = ("reserved bytes 6-7 set and a wrong CRC: the CRC is checked first",
                                     reply(**OK_REPLY, detections=DETS, reserved6=1, fix_crc=False), 0)
    out["16_reserved_6"] = ("reserved bytes 6-7 = 0x0100 (CRC correct)", reply(**OK_REPLY, detections=DETS, reserved6=0x100), 0)
    out["16_reserved_in_detection"] = ("reserved bytes 2-3 of the third detection record set",
                                       reply(**OK_REPLY, detections=DETS, record_reserved=[0, 0, 1]), 0)
    out["32_error_with_detections"] = ("status 102 with a detection: an error reply's result section must be empty",
                                       reply(**ERR_REPLY, detections=DETS[:1]), 0)
    out["28_score_above_1"] = ("a score of 1.5", reply(**OK_REPLY, detections=[(1, 1.5, 0.0, 0.0, 1.0, 1.0)]), 0)
    out["28_score_negative"] = ("a score of -0.25", reply(**OK_REPLY, detections=[(1, -0.25, 0.0, 0.0, 1.0, 1.0)]), 0)
    out["28_box_nan"] = ("x2 is NaN", reply(**OK_REPLY, detections=[(1, 0.5, 0.0, 0.0, float("nan"), 1.0)]), 0)
    out["28_box_infinite"] = ("y1 is -infinity", reply(**OK_REPLY, detections=[(1, 0.5, 0.0, float("-inf"), 1.0, 1.0)]), 0)
    out["28_after_good_reply"] = ("a valid reply, then one whose score is NaN",
                                  good + reply(**OK_REPLY, detections=[(1, float("nan"), 0.0, 0.0, 1.0, 1.0)]), 1)
    return out


kNames = {10: "truncated", 12: "bad_magic", 14: "version_unsupported", 16: "reserved_nonzero", 28: "bounds_invalid",
          32: "length_mismatch", 34: "length_too_large", 36: "crc_mismatch"}


def main():
    for kind in ("ok", "err"):
        os.makedirs(os.path.join(here, kind), exist_ok=True)
    for name, (comment, replies) in ok_files().items():
        data, lines = b"", [f"# {comment}", f"replies {len(replies)}"]
        for i, r in enumerate(replies):
            data += reply(**r)
            lines += fields(i, r["status"], r["frame_id"], r["decode_us"], r["timestamp_us"], r["digest"], r["shape"],
                            r["detections"])
        with open(os.path.join(here, "ok", name + ".bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(here, "ok", name + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
    for name, (comment, data, before) in err_files().items():
        errc = int(name.split("_")[0])
        with open(os.path.join(here, "err", name + ".bin"), "wb") as f:
            f.write(data)
        with open(os.path.join(here, "err", name + ".txt"), "w") as f:
            f.write(f"# {comment}\nerror {kNames[errc]}\nerrc {errc}\nreplies_before_error {before}\n")


if __name__ == "__main__":
    main()
