#!/usr/bin/python3
"""Exports the reference model for benchmarks and the LibTorch decoder backend (outputs are not committed).

Writes into OUT_DIR (default build/models/):
  encoder_s{1..4}.pt     TorchScript (trace + freeze), input 1x3xHxW, s fixed at export
  encoder_s{1..4}.onnx   ONNX (opset 13), input 1x3x384x384
  reconstructor.pt       TorchScript (trace + freeze), input 1x6x96x96 (any H, W once traced: convs only)
  reconstructor.onnx     ONNX (opset 13), input 1x6x96x96
Weights come from safetensors files (default: the fixtures in tests/data/), so exports and fixtures agree.
Usage: /usr/bin/python3 python/export.py [OUT_DIR] [--encoder-weights F] [--reconstructor-weights F]
"""
import argparse
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slimcodec_ref import Ensemble, Reconstructor, load_safetensors  # noqa: E402

kRoot = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
kOpset = 13


class EncoderAtSize(torch.nn.Module):
    """The ensemble with its active size s frozen, so tracing sees a plain graph of s members."""

    def __init__(self, encoder: Ensemble, s: int):
        super().__init__()
        self.encoder = encoder
        self.s = s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x, self.s)


def load_module(module: torch.nn.Module, path: str) -> torch.nn.Module:
    tensors, _ = load_safetensors(path)
    module.load_state_dict(tensors, strict=True)
    return module.eval()


def torchscript(module: torch.nn.Module, example: torch.Tensor, path: str):
    with torch.no_grad():
        traced = torch.jit.trace(module, example)
        frozen = torch.jit.freeze(traced)
        err = float((frozen(example) - module(example)).abs().max())
    frozen.save(path)
    print(f"{path}: TorchScript, max abs diff vs eager {err:.3g}")


def onnx_export(module: torch.nn.Module, example: torch.Tensor, path: str, in_name: str, out_name: str):
    with torch.no_grad(), warnings.catch_warnings():
        # InstanceNorm without running statistics always normalises with the input's own statistics, so the
        # exporter's "exporting with train=True" notice changes nothing.
        warnings.filterwarnings("ignore", message=".*instance_norm.*train=True.*")
        torch.onnx.export(module, (example,), path, opset_version=kOpset, input_names=[in_name],
                          output_names=[out_name], do_constant_folding=True)
    try:
        import onnx
    except ImportError:
        print(f"{path}: ONNX opset {kOpset} (onnx not importable: not checked)")
        return
    model = onnx.load(path)
    onnx.checker.check_model(model)
    ops = sorted({n.op_type for n in model.graph.node})
    print(f"{path}: ONNX opset {kOpset}, checker ok, ops {ops}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?", default=os.path.join(kRoot, "build", "models"))
    ap.add_argument("--encoder-weights", default=os.path.join(kRoot, "tests", "data", "encoder_weights.safetensors"))
    ap.add_argument("--reconstructor-weights",
                    default=os.path.join(kRoot, "tests", "data", "reconstructor_weights.safetensors"))
    ap.add_argument("--size", type=int, default=384, help="encoder input height and width (default 384)")
    args = ap.parse_args()
    if args.size % 4:
        ap.error("--size must be divisible by 4")
    os.makedirs(args.out_dir, exist_ok=True)

    encoder = load_module(Ensemble(4), args.encoder_weights)
    x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(1))
    for s in range(1, 5):
        wrapped = EncoderAtSize(encoder, s).eval()
        torchscript(wrapped, x, os.path.join(args.out_dir, f"encoder_s{s}.pt"))
        onnx_export(wrapped, x, os.path.join(args.out_dir, f"encoder_s{s}.onnx"), "image", "features")

    reconstructor = load_module(Reconstructor(), args.reconstructor_weights)
    z = torch.randn(1, 6, args.size // 4, args.size // 4, generator=torch.Generator().manual_seed(2))
    torchscript(reconstructor, z, os.path.join(args.out_dir, "reconstructor.pt"))
    onnx_export(reconstructor, z, os.path.join(args.out_dir, "reconstructor.onnx"), "features", "reconstructed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
