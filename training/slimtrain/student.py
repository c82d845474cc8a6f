"""The student: slimmable ensemble encoder -> variable-bound quantizer -> reconstructor (python/slimcodec_ref).

The quantizer is the library's (include/slimcodec/quant): bounds [-B, B] with B = k * member_sigma *
sqrt(sum_{m<s} 4^-m) (quant::bounds_from_ensemble, what the device's FrameEncoder uses), L = 2^b - 1 levels,
q = round_half_even(clamp((x + B) * L / 2B, 0, L)), x' = q * 2B / L - B. Every path clamps the latent to
[-B, B] first, the unquantized one included, so training, evaluation, probes and export see the same values.
Training passes the clamped latent through a proxy of the quantizer: "ste" (the real quantizer forward, identity
gradient inside the bounds: the reconstructor learns on exactly what it will receive, at b = 1 too, where uniform
noise of one step, U(-B, B), is wider than the latent itself) or "noise" (clamp + uniform noise of one step).
The no-noise ablation trains on the clamped latent alone.
"""
import functools
import math
from typing import Optional

import torch
import torch.nn as nn

from . import paths  # noqa: F401  (puts python/ on sys.path)
from slimcodec_ref import Ensemble, Reconstructor  # noqa: E402

kMembers = 4
kBoundK = 3.0  # quant::EnsembleBoundRule defaults
kMemberSigma = 1.0


def ensemble_bound(s: int, k: float = kBoundK, member_sigma: float = kMemberSigma) -> float:
    """quant::bounds_from_ensemble: the half-width B for ensemble size s (computed in double, like C++)."""
    return float(k * member_sigma * math.sqrt(sum(0.25 ** m for m in range(max(1, s)))))


def quant_params(bits: int, bound: float):
    """(lo, levels, inv, step) in float32, as quant::make_params computes them."""
    lo = torch.tensor(-bound, dtype=torch.float32)
    hi = torch.tensor(bound, dtype=torch.float32)
    levels = torch.tensor(float((1 << bits) - 1), dtype=torch.float32)
    width = hi - lo
    return lo, levels, levels / width, width / levels


def quantize_codes(x: torch.Tensor, bits: int, bound: float) -> torch.Tensor:
    """Integer codes 0..2^b-1 (as float), bit-compatible with quant::quantize_pack's scalar reference."""
    lo, levels, inv, _ = quant_params(bits, bound)
    t = (x.float() - lo.to(x.device)) * inv.to(x.device)
    t = torch.nan_to_num(t, nan=0.0)
    return torch.round(t.clamp(0.0, float(levels)))


def dequantize_codes(q: torch.Tensor, bits: int, bound: float) -> torch.Tensor:
    lo, _, _, step = quant_params(bits, bound)
    return q * step.to(q.device) + lo.to(q.device)


def quantize(x: torch.Tensor, bits: int, bound: float) -> torch.Tensor:
    """Hard quantize + dequantize (evaluation and deployment)."""
    return dequantize_codes(quantize_codes(x, bits, bound), bits, bound).to(x.dtype)


@functools.lru_cache(maxsize=None)
def wire_module():
    """The compiled slimcodec module (docs/python.md) when it is built and on PYTHONPATH, else None (looked up once:
    evaluation asks at every operating point)."""
    try:
        import slimcodec
    except ImportError:
        return None
    return slimcodec if hasattr(slimcodec, "encode_frame") else None


def quantize_through_wire(x: torch.Tensor, s: int, bits: int, bound: float, sc) -> torch.Tensor:
    """quantize() done by the library that ships: each sample framed (codec 0) by the C++ quantizer and parsed
    and dequantized back by the C++ parser. tests/python/test_training_quantizer.py checks that both give the same
    codes."""
    out = torch.empty(x.shape, dtype=torch.float32)
    for i in range(x.shape[0]):
        z = x[i].detach().float().cpu().contiguous().numpy()
        frame = sc.encode_frame(z, s=s, bits=bits, bounds=(-bound, bound))
        out[i] = torch.from_numpy(sc.decode_frame(frame))
    return out.to(device=x.device, dtype=x.dtype)


def add_quant_noise(x: torch.Tensor, bits: int, bound: float, generator: Optional[torch.Generator] = None):
    """Training proxy for quantize(): clamp to the bounds, then add U(-step/2, step/2)."""
    step = 2.0 * bound / ((1 << bits) - 1)
    u = torch.rand(x.shape, device=x.device, dtype=x.dtype, generator=generator) - 0.5
    return x.clamp(-bound, bound) + u * step


class Student(nn.Module):
    """Encoder (ensemble of kMembers) + reconstructor; state_dict names are the C++ names
    (`encoder.members.{m}...`, `reconstructor.stages.{i}...`)."""

    def __init__(self, members: int = kMembers, bound_k: float = kBoundK, member_sigma: float = kMemberSigma):
        super().__init__()
        self.encoder = Ensemble(members)
        self.reconstructor = Reconstructor()
        self.bound_k = bound_k
        self.member_sigma = member_sigma
        self.wire = None  # the slimcodec module: 'hard' quantizes through it (evaluation), see use_wire()

    def use_wire(self) -> bool:
        """Evaluation quantizes and frames through the compiled library when it is importable: the published table
        is then measured on the code that ships. Returns whether it is."""
        self.wire = wire_module()
        return self.wire is not None

    @property
    def members(self) -> int:
        return len(self.encoder.members)

    def bound(self, s: int) -> float:
        return ensemble_bound(s, self.bound_k, self.member_sigma)

    def bottleneck(self, z: torch.Tensor, s: int, bits: Optional[int], mode: str,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """mode: 'fp32' (clamped, not quantized), 'noise' or 'ste' (training proxies), 'hard' (real quantizer)."""
        bound = self.bound(s)
        if bits is None or mode == "fp32":
            return z.clamp(-bound, bound)
        if mode == "ste":
            c = z.clamp(-bound, bound)
            return c + (quantize(c, bits, bound) - c).detach()
        if mode == "noise":
            return add_quant_noise(z, bits, bound, generator)
        if mode == "hard":
            if self.wire is not None:
                return quantize_through_wire(z, s, bits, bound, self.wire)
            return quantize(z, bits, bound)
        raise ValueError(f"unknown bottleneck mode {mode!r}")

    def forward(self, x: torch.Tensor, s: int, bits: Optional[int] = None, mode: str = "hard",
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        z = self.encoder(x, s)
        return self.reconstructor(self.bottleneck(z, s, bits, mode, generator))


def encoder_macs(height: int, width: int, s: int = 1) -> int:
    """Multiply-adds of s encoder members on a height x width input (convs, SE and norm scaling not counted)."""
    counts = []

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * (mod.in_channels // mod.groups)
            counts.append(out.numel() * k)

    member = Ensemble(1).members[0]
    handles = [m.register_forward_hook(hook) for m in member.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        member(torch.zeros(1, 3, height, width))
    for h in handles:
        h.remove()
    return sum(counts) * s
