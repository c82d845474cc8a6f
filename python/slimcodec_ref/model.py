"""The slimcodec model in PyTorch, written to match docs/model.md exactly (layer semantics and state_dict names).

It is the oracle for the C++ layers: make_fixtures.py runs it to produce the parity tensors in tests/data/.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

# docs/model.md: InstanceNorm eps, ImageNet normalisation and the per-member parameter count.
kNormEps = 1e-5
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
kMemberParameters = 6597


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    # Affine, no running statistics: the state_dict holds only `weight` and `bias`.
    return nn.InstanceNorm2d(channels, eps=kNormEps, affine=True, track_running_stats=False)


class Conv2D(nn.Module):
    """Conv2D<Cin, Cout, K, S>: conv (no bias, padding K/2) -> InstanceNorm -> SiLU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)
        self.norm = _instance_norm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm(self.conv(x)))


class ConvTNormAct(nn.Module):
    """The `expand` step of FusedMBConvT: transposed conv (stride 2, 2x upsampling) -> InstanceNorm -> SiLU."""

    def __init__(self, cin: int, cout: int, k: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, k, stride=2, padding=k // 2, output_padding=1, bias=False)
        self.norm = _instance_norm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.norm(self.conv(x)))


class ConvNorm(nn.Module):
    """The `project` step: 1x1 conv (no bias) -> InstanceNorm, no activation."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.norm = _instance_norm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class SqueezeExcite(nn.Module):
    """g = sigmoid(expand(SiLU(reduce(mean_hw(x))))); x * g per channel."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1, bias=True)
        self.expand = nn.Conv2d(squeeze, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = x.mean(dim=(2, 3), keepdim=True)
        g = torch.sigmoid(self.expand(F.silu(self.reduce(g))))
        return x * g


def squeeze_channels(cin: int) -> int:
    # Csq = max(1, floor(Cin / 4)), from the block input width (not the expanded one).
    return max(1, cin // 4)


class FusedMBConv(nn.Module):
    """FusedMBConv<Cin, Cout, K, S, SR, Skip>.

    skip=None means "skip when allowed" (S == 1 and Cin == Cout), the C++ default; True demands it; False drops it.
    """

    def __init__(self, cin: int, cout: int, stride: int, k: int, sr: int, skip: Optional[bool] = None):
        super().__init__()
        allowed = stride == 1 and cin == cout
        if skip and not allowed:
            raise ValueError("FusedMBConv: skip needs stride 1 and Cin == Cout")
        self.use_skip = allowed if skip is None else bool(skip)
        ce = cin * sr
        self.expand = Conv2D(cin, ce, k, stride)
        self.se = SqueezeExcite(ce, squeeze_channels(cin))
        self.project = ConvNorm(ce, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.se(self.expand(x)))
        return y + x if self.use_skip else y


class FusedMBConvT(nn.Module):
    """FusedMBConvT<Cin, Cout, K, SR>: FusedMBConv with a transposed expand conv, output 2H x 2W, never a skip."""

    def __init__(self, cin: int, cout: int, k: int, sr: int):
        super().__init__()
        ce = cin * sr
        self.expand = ConvTNormAct(cin, ce, k)
        self.se = SqueezeExcite(ce, squeeze_channels(cin))
        self.project = ConvNorm(ce, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.se(self.expand(x)))


class Member(nn.Module):
    """One encoder member (paper Table II): 3 x H x W -> 6 x H/4 x W/4."""

    def __init__(self):
        super().__init__()
        self.stages = nn.Sequential(
            Conv2D(3, 6, 3, 2),
            FusedMBConv(6, 4, 1, 3, 1),
            FusedMBConv(4, 4, 1, 3, 1),
            FusedMBConv(4, 6, 2, 3, 6),
            FusedMBConv(6, 6, 1, 3, 6),
            FusedMBConv(6, 6, 1, 3, 6, skip=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)


def ensemble_weight(m: int) -> float:
    """w[m] = 2^-m: 1, 1/2, 1/4, 1/8."""
    return 2.0 ** -m


class Ensemble(nn.Module):
    """Ensemble<Member, N>: forward(x, s) = sum over m < s of 2^-m * member_m(x)."""

    def __init__(self, n: int = 4):
        super().__init__()
        self.members = nn.ModuleList([Member() for _ in range(n)])

    def forward(self, x: torch.Tensor, s: int) -> torch.Tensor:
        if not 1 <= s <= len(self.members):
            raise ValueError(f"ensemble size s={s} outside 1..{len(self.members)}")
        y = self.members[0](x)
        for m in range(1, s):
            y = y + ensemble_weight(m) * self.members[m](x)
        return y


class Reconstructor(nn.Module):
    """Server-side reconstructor (paper Table III): 6 x H x W -> 24 x 2H x 2W."""

    def __init__(self):
        super().__init__()
        self.stages = nn.Sequential(
            FusedMBConv(6, 48, 1, 1, 6),
            FusedMBConv(48, 48, 1, 3, 6, skip=True),
            FusedMBConvT(48, 48, 3, 6),
            FusedMBConv(48, 48, 1, 3, 6, skip=True),
            FusedMBConv(48, 24, 1, 3, 6),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)


class SplitModel(nn.Module):
    """Encoder + reconstructor; one file for both uses the prefixes `encoder.` and `reconstructor.`."""

    def __init__(self, n: int = 4):
        super().__init__()
        self.encoder = Ensemble(n)
        self.reconstructor = Reconstructor()

    def forward(self, x: torch.Tensor, s: int) -> torch.Tensor:
        return self.reconstructor(self.encoder(x, s))


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def preprocess(rgb_uint8_hwc, height: int, width: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """RGB uint8 HWC image -> normalized 3 x height x width tensor (docs/model.md, "Image input").

    Bilinear resize with half-pixel centres on the 0..255 values, then v/255, then ImageNet mean/std.
    """
    img = torch.as_tensor(rgb_uint8_hwc)
    if img.dtype != torch.uint8 or img.dim() != 3 or img.shape[2] != 3:
        raise ValueError("preprocess expects an H x W x 3 uint8 image")
    x = img.permute(2, 0, 1).unsqueeze(0).to(dtype).contiguous()
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=False)
    mean = torch.tensor(IMAGENET_MEAN, dtype=dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=dtype).view(1, 3, 1, 1)
    return ((x / 255.0 - mean) / std)[0]


def stage_outputs(stages: Sequence[nn.Module], x: torch.Tensor):
    """Every intermediate output of a Sequential, for per-layer debugging fixtures."""
    outs = []
    for layer in stages:
        x = layer(x)
        outs.append(x)
    return outs
