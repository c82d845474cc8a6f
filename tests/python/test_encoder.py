"""The encoder and preprocessing through the module, against the PyTorch reference's fixtures (tests/data), with
the C++ parity test's bound: max |module - ref| <= 1e-4 * max(1, max |ref|)."""
import os
import threading
import time

import numpy as np
import pytest

from conftest import DATA, read_safetensors


@pytest.fixture(scope="module")
def encoder64(sc):
    enc = sc.Encoder(64, 64)
    enc.load(os.path.join(DATA, "encoder_weights.safetensors"))
    return enc


def test_encoder_matches_the_reference_for_every_s(sc, encoder64):
    fix, _ = read_safetensors(os.path.join(DATA, "encoder_parity_64.safetensors"))
    assert encoder64.in_shape == (3, 64, 64) and encoder64.out_shape == (6, 16, 16)
    for s in range(1, 5):
        want = fix[f"output_s{s}"]
        got = encoder64.encode(fix["input"], s=s)
        assert np.max(np.abs(got - want)) <= 1e-4 * max(1.0, float(np.max(np.abs(want))))
        encoder64.s = s
        np.testing.assert_array_equal(encoder64.encode(fix["input"]), got)


def test_preprocess_matches_the_reference(sc):
    fix, _ = read_safetensors(os.path.join(DATA, "preprocess_parity.safetensors"))
    for h, w in ((24, 32), (50, 70), (37, 53)):
        got = sc.preprocess(fix["rgb"], h, w)
        np.testing.assert_allclose(got, fix[f"out_{h}x{w}"], rtol=0, atol=1e-4)


def test_encoder_errors_are_typed(sc, encoder64, tmp_path):
    with pytest.raises(sc.EnsembleOutOfRange):
        encoder64.s = 5
    with pytest.raises(sc.EnsembleOutOfRange):
        encoder64.encode(np.zeros((3, 64, 64), np.float32), s=0)
    with pytest.raises(sc.TensorShapeMismatch):
        encoder64.encode(np.zeros((3, 32, 32), np.float32))
    with pytest.raises(sc.IoError):
        sc.Encoder(64, 64).load(str(tmp_path / "none.safetensors"))
    with pytest.raises(sc.TensorMissing):
        sc.Encoder(64, 64).load(os.path.join(DATA, "reconstructor_weights.safetensors"), prefix="")
    with pytest.raises(sc.InvalidArgument):
        sc.preprocess(np.zeros((4, 4, 4), np.uint8), 8, 8)
    # The weights in the failed loads did not change the working encoder.
    assert encoder64.encode(np.zeros((3, 64, 64), np.float32)).shape == (6, 16, 16)


def test_bounds_follow_the_rule(sc, encoder64):
    assert encoder64.bounds(2) == pytest.approx(sc.bounds_from_ensemble(2, encoder64.bound_k, encoder64.member_sigma))
    lo, hi = sc.bounds_from_sigma(np.array([1, 2, 3, 4], np.float32), 2.0)
    assert lo == pytest.approx(2.5 - 2 * np.std([1, 2, 3, 4])) and hi == pytest.approx(2.5 + 2 * np.std([1, 2, 3, 4]))


def test_encode_frame_of_an_encoded_image(sc, encoder64):
    rgb = (np.arange(80 * 96 * 3) % 251).astype(np.uint8).reshape(80, 96, 3)
    y = encoder64.encode_image(rgb, s=4)
    data = sc.encode_frame(y, s=4, bits=4, bounds=encoder64.bounds(4), frame_id=1)
    f = sc.parse_frame(data)
    assert f.shape == (6, 16, 16) and f.s == 4
    assert np.max(np.abs(np.clip(y, f.lo, f.hi) - f.values())) <= 0.5001 * f.step


def test_encode_releases_the_gil(sc):
    enc = sc.Encoder(384, 384)
    enc.init_random(1)
    x = np.zeros((3, 384, 384), np.float32)
    done = []
    t = threading.Thread(target=lambda: done.append(enc.encode(x, s=4)))
    start = time.monotonic()
    t.start()
    ticks = 0
    while t.is_alive():
        ticks += 1
    t.join()
    elapsed = time.monotonic() - start
    assert done and done[0].shape == (6, 96, 96)
    assert ticks > 1000 or elapsed < 0.01
