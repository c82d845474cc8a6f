"""Replies through the module: the golden replies parse to their sidecars, the error goldens raise the exception
their sidecar names, and a built reply writes the golden's bytes."""
import os

import numpy as np
import pytest

from conftest import GOLDEN_REPLIES, golden_files, read_bytes, read_reply_sidecar

OK = golden_files(os.path.join(GOLDEN_REPLIES, "ok"))
ERR = golden_files(os.path.join(GOLDEN_REPLIES, "err"))


def test_goldens_present():
    assert len(OK) >= 6 and len(ERR) >= 15


@pytest.mark.parametrize("path", OK, ids=os.path.basename)
def test_golden_ok_replies_parse_to_their_sidecars(sc, path):
    data = read_bytes(path)
    side = read_reply_sidecar(path[:-4] + ".txt")
    assert side["replies"] == len(side["reply_list"])
    at = 0
    for want in side["reply_list"]:
        assert sc.peek_reply_size(data[at:at + sc.REPLY_HEAD_SIZE]) == sc.reply_size(want["detection_count"])
        r = sc.parse_reply(data[at:])
        assert int(r.status) == want["status"]
        for key in ("frame_id", "decode_us", "timestamp_us", "digest", "detection_count"):
            assert getattr(r, key) == want[key], key
        assert r.out_shape == want["out_shape"]
        dets = [tuple(d) for d in r.detections]
        assert [d[0] for d in dets] == [w[0] for w in want["detections"]]
        np.testing.assert_array_equal(np.array([d[1:] for d in dets], np.float32).reshape(-1, 5),
                                      np.array([w[1:] for w in want["detections"]], np.float32).reshape(-1, 5))
        np.testing.assert_array_equal(r.class_ids, [w[0] for w in want["detections"]])
        np.testing.assert_array_equal(r.scores, np.array([w[1] for w in want["detections"]], np.float32))
        np.testing.assert_array_equal(r.boxes, np.array([w[2:] for w in want["detections"]], np.float32).reshape(-1, 4))
        # Built from the sidecar's values, the writer reproduces the golden bytes.
        built = sc.Reply(frame_id=want["frame_id"], status=want["status"], decode_us=want["decode_us"],
                         timestamp_us=want["timestamp_us"], digest=want["digest"], out_shape=want["out_shape"],
                         detections=want["detections"] if want["status"] == 0 else None)
        assert bytes(built) == data[at:at + r.size]
        at += r.size
    assert at == len(data)


@pytest.mark.parametrize("path", ERR, ids=os.path.basename)
def test_golden_err_replies_raise_their_exception(sc, path):
    data = read_bytes(path)
    side = read_reply_sidecar(path[:-4] + ".txt")
    cls = sc.exceptions_by_errc[side["errc"]]
    assert cls.name == side["error"]
    at, replies = 0, 0
    with pytest.raises(cls) as info:
        while at < len(data):
            at += sc.parse_reply(data[at:]).size
            replies += 1
    assert info.value.errc == side["errc"]
    assert replies == side["replies_before_error"]


def test_reply_round_trip_with_arrays(sc):
    rng = np.random.default_rng(1)
    n = sc.MAX_DETECTIONS
    ids = rng.integers(0, 80, n).astype(np.uint16)
    scores = rng.random(n).astype(np.float32)
    boxes = (rng.random((n, 4)) * 512).astype(np.float32)
    r = sc.Reply(frame_id=9, decode_us=1234, timestamp_us=2 ** 40, digest=2 ** 63 + 5, out_shape=(84, 128, 128),
                 class_ids=ids, scores=scores, boxes=boxes)
    data = bytes(r)
    assert len(data) == sc.reply_size(n) == r.size
    back = sc.parse_reply(data + b"next reply")
    np.testing.assert_array_equal(back.class_ids, ids)
    np.testing.assert_array_equal(back.scores, scores)
    np.testing.assert_array_equal(back.boxes, boxes)
    assert (back.frame_id, back.decode_us, back.timestamp_us, back.digest) == (9, 1234, 2 ** 40, 2 ** 63 + 5)
    assert back.status == sc.Errc.ok
    with pytest.raises(sc.LengthTooLarge):
        sc.Reply(detections=[(0, 0.5, 0, 0, 1, 1)] * (n + 1))
    with pytest.raises(sc.LengthMismatch):
        sc.Reply(status=sc.Errc.backend_failed, detections=[(0, 0.5, 0, 0, 1, 1)])
    with pytest.raises(sc.InvalidArgument):
        sc.Reply(detections=[(0, 0.5)])
    err = sc.parse_reply(bytes(sc.Reply(frame_id=3, status=sc.Errc.overloaded)))
    assert err.status == sc.Errc.overloaded and err.detection_count == 0


def test_digest_features_is_fnv1a_over_the_float_bits(sc):
    x = np.array([0.0, -0.0, 1.5, np.inf], np.float32)
    h = 0xcbf29ce484222325
    for word in x.view(np.uint32):
        h = ((h ^ int(word)) * 0x100000001b3) % 2 ** 64
    assert sc.digest_features(x) == h
