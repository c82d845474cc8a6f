"""Training's torch quantizer and the module (the C++ library) give identical codes on held-out latents: the
published model's encoder (PyTorch) on photos it did not train on (the C++ end-to-end fixture's photo, and the
held-out images of build/train-data when prepared), every s and every b = 1..8. Training's evaluation quantizes
through the module when it is importable (slimtrain.student.quantize_through_wire); this is why that is the same."""
import glob
import os
import sys

import numpy as np
import pytest

from conftest import ROOT

torch = pytest.importorskip("torch")
sys.path.insert(0, os.path.join(ROOT, "training"))
from slimtrain import data  # noqa: E402
from slimtrain.export import load_student  # noqa: E402
from slimtrain.student import Student, dequantize_codes, quantize_codes, quantize_through_wire  # noqa: E402

kWeights = os.path.join(ROOT, "training", "weights", "slimcodec-centernet-256-cpu.safetensors")


def heldout_latents():
    photos = [os.path.join(ROOT, "tests", "training", "data", "coffee_256x168.png")]
    photos += sorted(glob.glob(os.path.join(ROOT, "build", "train-data", "heldout", "*.jpg")))[:3]
    student = load_student(kWeights).eval()
    with torch.no_grad():
        for path in photos:
            view = data.resize_view(data.to_chw(data.load_rgb(path)), (256, 256)).unsqueeze(0)
            x = data.student_input(view, 1)
            for s in range(1, 5):
                yield os.path.basename(path), s, student.encoder(x, s)


def test_torch_codes_equal_the_module_codes(sc):
    torch.set_num_threads(1)
    checked = 0
    for name, s, z in heldout_latents():
        bound = Student().bound(s)
        lo, hi = sc.bounds_from_ensemble(s)
        assert (lo, hi) == pytest.approx((-bound, bound), rel=1e-6)
        for bits in range(1, 9):
            want = quantize_codes(z, bits, bound)[0].numpy().astype(np.uint8)
            frame = sc.parse_frame(sc.encode_frame(z[0].numpy(), s=s, bits=bits, bounds=(-bound, bound)))
            got = np.asarray(frame.codes())
            assert got.shape == want.shape
            mismatches = int(np.count_nonzero(got != want))
            assert mismatches == 0, f"{name} s={s} b={bits}: {mismatches} codes differ"
            # The dequantized values too, within the spec's one-FMA tolerance.
            ref = dequantize_codes(torch.from_numpy(want.astype(np.float32)), bits, bound).numpy()
            np.testing.assert_allclose(frame.values(), ref, rtol=0, atol=1e-6 * bound)
            checked += 1
    assert checked >= 32


def test_evaluation_path_through_the_module_matches_torch(sc):
    # Student's 'hard' bottleneck through the module gives what the torch quantizer gives.
    for _, s, z in heldout_latents():
        bound = Student().bound(s)
        for bits in (1, 2, 4):
            via = quantize_through_wire(z, s, bits, bound, sc)
            want = dequantize_codes(quantize_codes(z, bits, bound), bits, bound)
            np.testing.assert_allclose(via.numpy(), want.numpy(), rtol=0, atol=1e-6 * bound)
        break
