#!/usr/bin/python3
"""Writes the parity fixtures in tests/data/ from the PyTorch reference (deterministic, seeded).

Weights are float32 random initialisations chosen to give non-trivial activations; reference outputs are computed
in float64 from those exact float32 weights and inputs, then stored as float32, so they are the "true" answers a
float32 implementation is compared with. Usage (from the repository root):
    /usr/bin/python3 python/make_fixtures.py            # (re)writes tests/data/
    /usr/bin/python3 python/make_fixtures.py --check    # recomputes and compares with the files in tests/data/
"""
import argparse
import io
import math
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
from PIL import Image  # python3-pil: writes the PNG/JPEG loader fixtures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slimcodec_ref import (Ensemble, Reconstructor, count_parameters, kMemberParameters,  # noqa: E402
                           load_safetensors, preprocess, safetensors_bytes)
from slimcodec_ref.model import stage_outputs  # noqa: E402

kSeed = 20240611
kDefaultOut = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "data")


# ---- weights --------------------------------------------------------------------------------------------------

def init_weights(module: torch.nn.Module, gen: torch.Generator):
    """Kaiming-uniform convs, norm weight ~ U(0.5, 1.5), norm bias ~ U(-0.2, 0.2), nonzero SE biases."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("conv.weight") or name.endswith("se.reduce.weight") or name.endswith("se.expand.weight"):
                if isinstance(_owner(module, name), torch.nn.ConvTranspose2d):
                    fan_in = p.shape[0] * p.shape[2] * p.shape[3] / 4.0  # stride 2: ~1/4 of the taps hit a pixel
                else:
                    fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                bound = math.sqrt(6.0 / fan_in)  # kaiming_uniform with the ReLU gain
                p.uniform_(-bound, bound, generator=gen)
            elif name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5, generator=gen)
            elif name.endswith("norm.bias"):
                p.uniform_(-0.2, 0.2, generator=gen)
            elif name.endswith("se.reduce.bias"):
                p.uniform_(-0.5, 0.5, generator=gen)
            elif name.endswith("se.expand.bias"):
                p.uniform_(-1.0, 1.0, generator=gen)  # gates spread over sigmoid(-1..1) instead of all ~0.5
            else:
                raise RuntimeError(f"no init rule for {name}")


def _owner(root: torch.nn.Module, param_name: str) -> torch.nn.Module:
    mod = root
    for part in param_name.split(".")[:-1]:
        mod = getattr(mod, part)
    return mod


def state_dict_f32(module: torch.nn.Module) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((k, v.detach().to(torch.float32).contiguous()) for k, v in module.state_dict().items())


# ---- inputs -----------------------------------------------------------------------------------------------------

def synthetic_rgb(height: int, width: int, gen: torch.Generator) -> torch.Tensor:
    """An H x W x 3 uint8 image with gradients, a disc, stripes and noise (edges and flat areas both present)."""
    y = torch.arange(height, dtype=torch.float64).view(-1, 1) / max(height - 1, 1)
    x = torch.arange(width, dtype=torch.float64).view(1, -1) / max(width - 1, 1)
    disc = (((x - 0.6) ** 2 + (y - 0.4) ** 2) < 0.08).to(torch.float64)
    stripes = (torch.sin(x * 23.0 + y * 7.0) > 0).to(torch.float64)
    r = 200 * x + 40 * disc
    g = 180 * y + 60 * stripes
    b = 120 + 100 * disc - 60 * stripes * x
    img = torch.stack([r, g, b], dim=-1)
    img = img + torch.randn(img.shape, generator=gen, dtype=torch.float64) * 12.0
    return img.round().clamp(0, 255).to(torch.uint8)


# ---- fixture sets -----------------------------------------------------------------------------------------------

def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.to(torch.float64) - b.to(torch.float64)).abs().max())


def encoder_fixtures(gen: torch.Generator):
    enc = Ensemble(4)
    init_weights(enc, gen)
    for m, member in enumerate(enc.members):
        n = count_parameters(member)
        assert n == kMemberParameters, f"member {m} has {n} parameters, docs/model.md says {kMemberParameters}"
    weights = state_dict_f32(enc)
    enc_f32 = enc.eval()
    enc_f64 = Ensemble(4).double().eval()
    enc_f64.load_state_dict(OrderedDict((k, v.double()) for k, v in weights.items()))

    files = OrderedDict()
    files["encoder_weights.safetensors"] = (weights, {"format": "pt", "model": "slimcodec encoder, Ensemble<Member, 4>",
                                                      "seed": str(kSeed)})
    for size, with_stages in ((64, True), (384, False)):
        rgb = synthetic_rgb(size * 5 // 4, size * 3 // 2, gen)  # a larger, non-square image, downscaled
        x = preprocess(rgb, size, size, dtype=torch.float64).to(torch.float32)
        tensors = OrderedDict(input=x)
        meta = {"input": f"preprocess() of a synthetic {rgb.shape[0]}x{rgb.shape[1]} RGB image",
                "reference": "float64 forward of the float32 weights and input, stored as float32"}
        with torch.no_grad():
            for s in range(1, 5):
                y64 = enc_f64(x.double()[None], s)[0]
                y32 = enc_f32(x[None], s)[0]
                tensors[f"output_s{s}"] = y64.to(torch.float32)
                meta[f"torch_f32_max_abs_err_s{s}"] = f"{max_abs(y32, y64):.3g}"
            if with_stages:
                for i, out in enumerate(stage_outputs(enc_f64.members[0].stages, x.double()[None])):
                    tensors[f"member0_stage{i}"] = out[0].to(torch.float32)
        files[f"encoder_parity_{size}.safetensors"] = (tensors, meta)
    return files


def reconstructor_fixtures(gen: torch.Generator):
    rec = Reconstructor()
    init_weights(rec, gen)
    weights = state_dict_f32(rec)
    rec_f64 = Reconstructor().double().eval()
    rec_f64.load_state_dict(OrderedDict((k, v.double()) for k, v in weights.items()))
    x = torch.randn((6, 12, 12), generator=gen, dtype=torch.float32)
    tensors = OrderedDict(input=x)
    with torch.no_grad():
        outs = stage_outputs(rec_f64.stages, x.double()[None])
        y32 = rec.eval()(x[None])[0]
    tensors["output"] = outs[-1][0].to(torch.float32)
    for i, out in enumerate(outs):
        tensors[f"stage{i}"] = out[0].to(torch.float32)
    meta = {"reference": "float64 forward of the float32 weights and input, stored as float32",
            "torch_f32_max_abs_err": f"{max_abs(y32, outs[-1][0]):.3g}"}
    return OrderedDict([
        ("reconstructor_weights.safetensors", (weights, {"format": "pt", "model": "slimcodec reconstructor",
                                                         "seed": str(kSeed)})),
        ("reconstructor_parity.safetensors", (tensors, meta)),
    ])


def image_files(rgb: torch.Tensor):
    """The preprocess image as PNG (lossless) and JPEG (quality 95, no chroma subsampling) for the loader tests."""
    img = Image.fromarray(rgb.numpy(), mode="RGB")
    out = OrderedDict()
    for fname, kwargs in (("preprocess_rgb.png", dict(format="PNG", optimize=False)),
                          ("preprocess_rgb.jpg", dict(format="JPEG", quality=95, subsampling=0))):
        buf = io.BytesIO()
        img.save(buf, **kwargs)
        out[fname] = buf.getvalue()
    return out


def preprocess_fixtures(gen: torch.Generator):
    rgb = synthetic_rgb(37, 53, gen)
    images = image_files(rgb)
    tensors = OrderedDict(rgb=rgb)
    # What libjpeg (through PIL) decodes from the JPEG fixture: a decoder-vs-decoder reference for the C++ loader.
    jpeg = Image.open(io.BytesIO(images["preprocess_rgb.jpg"])).convert("RGB")
    tensors["jpeg_decoded"] = torch.from_numpy(np.array(jpeg, dtype=np.uint8))
    for h, w in ((24, 32), (50, 70), (37, 53)):  # downscale, upscale, identity
        tensors[f"out_{h}x{w}"] = preprocess(rgb, h, w, dtype=torch.float64).to(torch.float32)
    # A camera-width strip (640 -> 384, as a 640x480 frame is scaled for the encoder): at this width, source
    # coordinates computed in float32 already cost ~1e-4 after normalisation, so this case pins the precision.
    wide = synthetic_rgb(160, 640, gen)
    tensors["rgb_wide"] = wide
    tensors["out_wide_64x384"] = preprocess(wide, 64, 384, dtype=torch.float64).to(torch.float32)
    meta = {"rgb": "H x W x 3 uint8, row-major HWC; also written as preprocess_rgb.png and preprocess_rgb.jpg",
            "jpeg_decoded": "preprocess_rgb.jpg decoded by PIL (libjpeg), H x W x 3 uint8",
            "out_HxW": "preprocess(rgb, H, W) in float64, stored as float32 (3 x H x W)",
            "out_wide_64x384": "preprocess(rgb_wide, 64, 384), likewise"}
    return OrderedDict([("preprocess_parity.safetensors", (tensors, meta))]), images


def build_all():
    gen = torch.Generator().manual_seed(kSeed)
    files = OrderedDict()
    files.update(encoder_fixtures(gen))
    files.update(reconstructor_fixtures(gen))
    pre, images = preprocess_fixtures(gen)
    files.update(pre)
    return files, images


def check(out_dir: str, files, images) -> bool:
    """Weights and inputs must match bit for bit; float64-derived outputs to 1e-5 (BLAS order may differ)."""
    ok = True
    for fname, blob in images.items():
        path = os.path.join(out_dir, fname)
        if not os.path.exists(path):
            print(f"MISSING {path}")
            ok = False
            continue
        want = np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"), dtype=np.int16)
        got = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
        tol = 0 if fname.endswith(".png") else 2  # another libjpeg may round a little differently
        if want.shape != got.shape or np.abs(want - got).max() > tol:
            print(f"{fname}: pixels differ")
            ok = False
    for fname, (tensors, _) in files.items():
        path = os.path.join(out_dir, fname)
        if not os.path.exists(path):
            print(f"MISSING {path}")
            ok = False
            continue
        stored, _ = load_safetensors(path)
        if list(stored.keys()) != list(tensors.keys()):
            print(f"{fname}: tensor names differ")
            ok = False
            continue
        for name, t in tensors.items():
            s = stored[name]
            exact = "weights" in fname or name in ("input", "rgb", "rgb_wide")
            if name == "jpeg_decoded":  # another libjpeg build may round a little differently
                if s.shape != t.shape or (s.to(torch.int16) - t.to(torch.int16)).abs().max() > 2:
                    print(f"{fname}:{name}: differs")
                    ok = False
                continue
            if s.shape != t.shape or s.dtype != t.dtype:
                print(f"{fname}:{name}: shape/dtype differ")
                ok = False
            elif exact and not torch.equal(s, t):
                print(f"{fname}:{name}: differs (must be bit-exact)")
                ok = False
            elif not exact and max_abs(s, t) > 1e-5:
                print(f"{fname}:{name}: max abs diff {max_abs(s, t):.3g} > 1e-5")
                ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=kDefaultOut, help="output directory (default: tests/data)")
    ap.add_argument("--check", action="store_true", help="compare with the existing files instead of writing")
    args = ap.parse_args()
    torch.set_num_threads(1)  # one reduction order on every machine
    files, images = build_all()
    if args.check:
        ok = check(args.out, files, images)
        print("fixtures match" if ok else "fixtures DIFFER")
        return 0 if ok else 1
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for fname, (tensors, meta) in files.items():
        blob = safetensors_bytes(tensors, meta)
        with open(os.path.join(args.out, fname), "wb") as f:
            f.write(blob)
        total += len(blob)
        notes = ", ".join(f"{k}={v}" for k, v in meta.items() if k.startswith("torch_f32"))
        print(f"{fname}: {len(blob):,} bytes, {len(tensors)} tensors" + (f" ({notes})" if notes else ""))
    for fname, blob in images.items():
        with open(os.path.join(args.out, fname), "wb") as f:
            f.write(blob)
        total += len(blob)
        print(f"{fname}: {len(blob):,} bytes")
    print(f"total {total:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
