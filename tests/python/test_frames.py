"""Frames through the module: the golden frames decode to their sidecars (ok/) or raise the exception their
sidecar names (err/), in the whole-buffer and the stream reader; round trips for every b and codec; the payload
is a view, not a copy; bad input raises, never crashes."""
import os
import threading

import numpy as np
import pytest

from conftest import GOLDEN, golden_files, read_bytes, read_frame_sidecar

OK = golden_files(os.path.join(GOLDEN, "ok"))
ERR = golden_files(os.path.join(GOLDEN, "err"))
HEADER_FIELDS = ("bound_mode", "codec", "ensemble_size", "bits", "channels", "height", "width", "frame_id",
                 "timestamp_us", "payload_size", "frame_size")


def sidecar(path):
    return read_frame_sidecar(path[:-4] + ".txt")


def test_goldens_present():
    assert len(OK) >= 8 and len(ERR) >= 40


@pytest.mark.parametrize("path", OK, ids=os.path.basename)
def test_golden_ok_frames_parse_to_their_sidecars(sc, golden_tables, path):
    data = read_bytes(path)
    side = sidecar(path)
    at = 0
    for want in side["frames"]:
        assert want["offset"] == at
        f = sc.parse_frame(data[at:], tables=golden_tables)
        for key in HEADER_FIELDS:
            assert int(getattr(f, key)) == want[key], key
        assert f.lo == want["lo"] and f.hi == want["hi"]
        shape = (want["channels"], want["height"], want["width"])
        assert f.shape == shape
        np.testing.assert_array_equal(f.codes().ravel(), want["codes"])
        # lo + q * step in binary32; the SIMD path may use an FMA: within 4 ulp of the larger bound (the C++ test's).
        tol = 4 * np.finfo(np.float32).eps * max(abs(want["lo"]), abs(want["hi"]))
        values = f.values()
        assert values.dtype == np.float32 and values.shape == shape
        np.testing.assert_allclose(values.ravel(), want["values"], rtol=0, atol=tol)
        np.testing.assert_allclose(sc.decode_frame(data[at:], tables=golden_tables).ravel(), want["values"],
                                   rtol=0, atol=tol)
        assert bytes(f) == data[at:at + f.frame_size]
        at += f.frame_size
    assert at == len(data)
    for chunk in (1, 13, len(data)):
        p = sc.FrameParser(tables=golden_tables)
        got = []
        for i in range(0, len(data), chunk):
            got += p.feed(data[i:i + chunk])
        p.finish()
        assert [g.frame_id for g in got] == [w["frame_id"] for w in side["frames"]]
        for g, w in zip(got, side["frames"]):
            np.testing.assert_array_equal(g.codes().ravel(), w["codes"])


def test_golden_codec1_frames_need_their_tables(sc):
    data = read_bytes(os.path.join(GOLDEN, "ok", "rans_b4_3x16x16.bin"))
    f = sc.parse_frame(data)
    assert f.codec == sc.Codec.rans
    with pytest.raises(sc.EntropyTableMismatch):
        f.values()
    with pytest.raises(sc.EntropyTableMismatch):
        sc.decode_frame(data)


@pytest.mark.parametrize("path", ERR, ids=os.path.basename)
def test_golden_err_frames_raise_their_exception(sc, golden_tables, path):
    data = read_bytes(path)
    side = sidecar(path)
    cls = sc.exceptions_by_errc[side["errc"]]
    assert cls.name == side["error"] and cls.errc == side["errc"]
    assert int(os.path.basename(path)[:2]) == side["errc"]
    # Whole-buffer reader, frame after frame; codec-1 errors past the frame checks come from decoding the payload.
    at, frames, payload_error = 0, 0, False
    with pytest.raises(sc.Error) as info:
        while at < len(data):
            f = sc.parse_frame(data[at:])
            if f.codec == sc.Codec.rans:
                payload_error = True
                f.codes(tables=golden_tables)
                payload_error = False
            at += f.frame_size
            frames += 1
    assert type(info.value) is cls
    assert info.value.errc == side["errc"]
    assert str(info.value) == info.value.message
    assert frames == side["frames_before_error"]
    if payload_error:
        return  # the stream parser does not decode payloads
    for chunk in (1, 7, len(data)):
        p = sc.FrameParser()
        got = []
        with pytest.raises(cls):
            for i in range(0, len(data), chunk):
                got += p.feed(data[i:i + chunk])
            p.finish()
        assert len(got) == side["frames_before_error"]
        assert p.failed or p.need > 0


def test_exception_classes_cover_every_error_code(sc):
    names = set()
    for code, cls in sc.exceptions_by_errc.items():
        assert issubclass(cls, sc.Error) and cls is not sc.Error
        assert cls.errc == code and getattr(sc, cls.__name__) is cls
        assert cls.__doc__ == sc.message(code)
        names.add(cls.__name__)
    assert len(names) == len(sc.exceptions_by_errc)
    unnamed = sorted(n for n in names if n.startswith("Errc"))
    assert not unnamed, f"{unnamed}: add these codes to kErrcNames in python/src/slimcodec_module.cpp"
    for member in sc.Errc.__members__.values():
        if int(member) != 0:
            assert sc.exceptions_by_errc[int(member)].name == member.name
    # The library's messages come through unchanged.
    with pytest.raises(sc.BadMagic, match="^bad magic: not a slimcodec frame$"):
        sc.parse_frame(b"X" * 100)


def latent(seed, shape=(6, 12, 12), scale=1.5):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("bits", range(1, 9))
def test_round_trip_codec0_every_b(sc, bits):
    x = latent(bits, (5, 7, 9))  # 315 values: the last 128-value group is padded
    bounds = sc.bounds_from_ensemble(3)
    data = sc.encode_frame(x, s=3, bits=bits, bounds=bounds, frame_id=40 + bits, timestamp_us=123456789012)
    assert len(data) == sc.max_frame_size(x.size, bits)
    f = sc.parse_frame(data)
    assert (f.s, f.bits, f.shape, f.codec) == (3, bits, x.shape, sc.Codec.raw_bitpack)
    assert (f.frame_id, f.timestamp_us) == (40 + bits, 123456789012)
    assert f.bound_mode == sc.BoundMode.explicit_bounds
    y = f.values()
    lo, hi = bounds
    inside = np.clip(x, lo, hi)
    assert np.max(np.abs(inside - y)) <= 0.5001 * f.step
    # Codes agree with the quantizer's definition (round half to even of (x - lo) / step, clamped).
    levels = (1 << bits) - 1
    q = np.clip(np.rint((x - np.float32(lo)) * np.float32(levels / (hi - lo))), 0, levels)
    assert np.mean(f.codes() == q) > 0.99


@pytest.mark.parametrize("bits", [1, 2, 3, 4, 5, 6, 8])
def test_round_trip_codec1_every_b(sc, bits):
    # Peaked latents, tables fitted to them: codec 1 is smaller than codec 0 and decodes to the same values.
    train = [(latent(100 + i, scale=0.4), (-2.0, 2.0)) for i in range(4)]
    tables = sc.fit_entropy_tables(train, bits=[bits], table_id=77)
    x = latent(7, scale=0.4)
    plain = sc.encode_frame(x, s=1, bits=bits, bounds=(-2.0, 2.0))
    coded = sc.encode_frame(x, s=1, bits=bits, bounds=(-2.0, 2.0), tables=tables)
    f0, f1 = sc.parse_frame(plain), sc.parse_frame(coded, tables=tables)
    if bits == 1:  # a 1-bit payload rarely codes smaller; the writer then keeps codec 0
        assert f1.codec in (sc.Codec.raw_bitpack, sc.Codec.rans)
    else:
        assert f1.codec == sc.Codec.rans and len(coded) < len(plain)
    np.testing.assert_array_equal(f1.codes(), f0.codes())
    np.testing.assert_array_equal(f1.values(), f0.values())
    np.testing.assert_array_equal(sc.decode_frame(coded, tables=tables), f0.values())
    p = sc.FrameParser(tables=tables)
    (g,) = p.feed(coded)
    np.testing.assert_array_equal(g.values(), f0.values())


def test_default_bounds_follow_the_ensemble_rule(sc):
    f = sc.parse_frame(sc.encode_frame(latent(1), s=2, bits=3))
    assert f.bounds == pytest.approx(sc.bounds_from_ensemble(2))
    assert f.bound_mode == sc.BoundMode.from_ensemble_size


def test_payload_is_a_view_of_the_bytes(sc):
    data = sc.encode_frame(latent(2), s=1, bits=4)
    f = sc.parse_frame(data)
    view = f.payload
    assert view.base is not None and not view.flags.writeable
    assert view.__array_interface__["data"][0] - np.frombuffer(data, np.uint8).__array_interface__["data"][0] == 48
    assert view.tobytes() == data[48:-4]
    del f
    assert view.tobytes() == data[48:-4]  # the view keeps its frame (and the bytes) alive


def test_codes_at_8_bits_are_a_view_of_the_payload(sc):
    x = latent(8, (3, 5, 47))  # 705 values: the payload is padded to 768 bytes
    data = sc.encode_frame(x, s=1, bits=8, bounds=(-3, 3))
    f = sc.parse_frame(data)
    codes = f.codes()
    assert codes.shape == (3, 5, 47) and codes.base is not None and not codes.flags.writeable
    np.testing.assert_array_equal(codes.ravel(), f.payload[:x.size])
    # The same codes as the general unpack (bounds [0, 255], step 1) of every other b.
    levels = np.clip(np.rint((x + 3) * np.float32(255 / 6)), 0, 255)
    assert np.mean(codes == levels) > 0.99
    np.testing.assert_allclose(f.values(), np.float32(-3) + codes.astype(np.float32) * np.float32(f.step),
                               rtol=0, atol=4 * 3 * np.finfo(np.float32).eps)


def test_mutable_buffers_are_copied(sc):
    data = bytearray(sc.encode_frame(latent(3), s=1, bits=2))
    f = sc.parse_frame(data)
    before = f.values().copy()
    data[60] ^= 0xFF
    np.testing.assert_array_equal(f.values(), before)
    with pytest.raises(sc.CrcMismatch):
        sc.parse_frame(data)
    assert len(sc.parse_frame(memoryview(bytes(data[:0]) + sc.encode_frame(latent(3), s=1, bits=2))).payload) > 0


def test_values_into_out(sc):
    data = sc.encode_frame(latent(4), s=1, bits=4)
    out = np.empty((6, 12, 12), np.float32)
    r = sc.decode_frame(data, out=out)
    assert r is out
    np.testing.assert_array_equal(out, sc.parse_frame(data).values())
    with pytest.raises(sc.BufferTooSmall):
        sc.decode_frame(data, out=np.empty(10, np.float32))
    with pytest.raises(sc.InvalidArgument):
        sc.decode_frame(data, out=np.empty((6, 12, 12), np.float64))


def test_decode_frame_argument_forms(sc, golden_tables):
    data = sc.encode_frame(latent(12), s=1, bits=4)
    want = sc.parse_frame(data).values()
    out = np.empty((6, 12, 12), np.float32)
    assert sc.decode_frame(data, None, out) is out
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(sc.decode_frame(data=data, max_payload_size=len(data)), want)
    np.testing.assert_array_equal(sc.decode_frame(memoryview(data)), want)  # the general path: any buffer
    np.testing.assert_array_equal(sc.decode_frame(bytearray(data), tables=golden_tables), want)
    with pytest.raises(sc.InvalidArgument):
        sc.decode_frame(data, tables=5)
    with pytest.raises(sc.InvalidArgument):
        sc.decode_frame(data, out=np.empty((6, 12, 24), np.float32)[:, :, ::2])
    with pytest.raises(sc.LengthTooLarge):
        sc.decode_frame(data, max_payload_size=10)
    with pytest.raises(TypeError):
        sc.decode_frame(data, nonsense=1)
    with pytest.raises(TypeError):
        sc.decode_frame()


def test_encode_errors_are_typed(sc):
    x = latent(5)
    with pytest.raises(sc.BitsOutOfRange):
        sc.encode_frame(x, s=1, bits=9)
    with pytest.raises(sc.EnsembleOutOfRange):
        sc.encode_frame(x, s=17, bits=2)
    with pytest.raises(sc.BoundsInvalid):
        sc.encode_frame(x, s=1, bits=2, bounds=(1.0, -1.0))
    with pytest.raises(sc.ShapeOutOfRange):
        sc.encode_frame(np.zeros((1025, 1, 1), np.float32), s=1, bits=2)
    with pytest.raises(sc.InvalidArgument):
        sc.encode_frame(np.zeros((4, 4), np.float32), s=1, bits=2)
    # float64 and non-contiguous input are converted
    a = sc.encode_frame(x.astype(np.float64), s=1, bits=3, bounds=(-2, 2))
    b = sc.encode_frame(np.asfortranarray(x), s=1, bits=3, bounds=(-2, 2))
    assert a == b == sc.encode_frame(x, s=1, bits=3, bounds=(-2, 2))


def test_stream_parser_error_after_frames_is_raised_next(sc):
    good = sc.encode_frame(latent(6), s=1, bits=4)
    p = sc.FrameParser()
    frames = p.feed(good + good + b"JUNK" * 20)
    assert len(frames) == 2 and p.failed
    with pytest.raises(sc.BadMagic):
        p.feed(b"")
    with pytest.raises(sc.BadMagic):
        p.finish()
    p.reset()
    assert len(p.feed(good)) == 1
    p.feed(good[:30])
    assert p.need == 18
    with pytest.raises(sc.Truncated):
        p.finish()


def test_stream_parser_limits(sc):
    big = sc.encode_frame(np.zeros((64, 64, 64), np.float32), s=1, bits=8)
    with pytest.raises(sc.LengthTooLarge):
        sc.FrameParser(max_payload_size=1000).feed(big)
    with pytest.raises(sc.LengthTooLarge):
        sc.parse_frame(big, max_payload_size=1000)


def test_iter_frames_over_a_file_and_chunks(sc, tmp_path):
    frames = [sc.encode_frame(latent(10 + i), s=1, bits=1 + i, frame_id=i) for i in range(5)]
    path = tmp_path / "stream.bin"
    path.write_bytes(b"".join(frames))
    with open(path, "rb") as f:
        assert [g.frame_id for g in sc.iter_frames(f, chunk_size=100)] == list(range(5))
    chunks = [b"".join(frames)[i:i + 33] for i in range(0, sum(map(len, frames)), 33)]
    assert [g.bits for g in sc.iter_frames(chunks)] == [1, 2, 3, 4, 5]
    with pytest.raises(sc.Truncated):
        list(sc.iter_frames([frames[0][:-1]]))


def test_gil_is_released_during_whole_frame_work(sc):
    # A large frame decoded in a loop on one thread; the main thread must keep running Python meanwhile.
    data = sc.encode_frame(latent(11, (64, 256, 256)), s=1, bits=4)
    out = np.empty((64, 256, 256), np.float32)
    stop = threading.Event()
    decoded = [0]

    def work():
        while not stop.is_set():
            sc.decode_frame(data, out=out)
            decoded[0] += 1

    t = threading.Thread(target=work)
    t.start()
    ticks = 0
    import time
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        ticks += 1
    stop.set()
    t.join()
    assert decoded[0] > 0
    assert ticks > 10000  # with the GIL held through each decode, the loop would get only a few switches
