"""Exports: the student's weights as one safetensors file the C++ library loads unchanged (prefixes `encoder.`
and `reconstructor.`, docs/model.md), and TorchScript modules for the LibTorch decoder backend: the teacher tail
(tap -> outputs) and the whole server side (reconstructor + tail). All TorchScript modules take and return one
1 x C x H x W tensor, the backend's contract (include/slimcodec/server/libtorch.hpp).
"""
import json
import os
import warnings
from typing import Dict, Optional

import torch
import torch.nn as nn

from . import paths  # noqa: F401
from slimcodec_ref import load_safetensors, save_safetensors  # noqa: E402
from .student import Student, kBoundK, kMemberSigma


def save_student(student: Student, path: str, metadata: Optional[Dict[str, object]] = None):
    meta = {"format": "slimcodec split model", "bound_rule": "ensemble", "bound_k": student.bound_k,
            "member_sigma": student.member_sigma}
    meta.update(metadata or {})
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in student.state_dict().items()}
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_safetensors(path, tensors, {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})


def load_student(path: str) -> Student:
    tensors, meta = load_safetensors(path)
    student = Student(bound_k=float(meta.get("bound_k", kBoundK)),
                      member_sigma=float(meta.get("member_sigma", kMemberSigma)))
    student.load_state_dict(tensors, strict=True)
    return student.eval()


class ServerSide(nn.Module):
    """Dequantized bottleneck 1 x 6 x h x w -> the teacher's outputs (one tensor)."""

    def __init__(self, reconstructor: nn.Module, tail: nn.Module):
        super().__init__()
        self.reconstructor = reconstructor
        self.tail = tail

    def forward(self, z):
        return self.tail(self.reconstructor(z))


def _trace(module: nn.Module, example: torch.Tensor, path: str, log) -> float:
    module = module.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # shape constants baked by tracing are intended: sizes are fixed
        traced = torch.jit.trace(module, example, check_trace=False)
        traced = torch.jit.freeze(traced)
        err = float((traced(example) - module(example)).abs().max())
    traced.save(path)
    log(f"{path}: TorchScript, input {list(example.shape)}, max abs diff vs eager {err:.3g}")
    return err


def export_torchscript(student: Student, teacher, out_dir: str, log=print) -> Dict[str, str]:
    """teacher_tail.pt (tap -> outputs) and server.pt (bottleneck -> outputs) at the teacher's input size."""
    os.makedirs(out_dir, exist_ok=True)
    student = student.cpu().eval()
    teacher = teacher.cpu()
    c, h, w = teacher.tap_shape()
    gen = torch.Generator().manual_seed(3)
    tap = torch.randn(1, c, h, w, generator=gen)
    z = torch.randn(1, 6, h // 2, w // 2, generator=gen)
    tail = teacher.export_tail()
    files = {"teacher_tail": os.path.join(out_dir, "teacher_tail.pt"), "server": os.path.join(out_dir, "server.pt")}
    _trace(tail, tap, files["teacher_tail"], log)
    _trace(ServerSide(student.reconstructor, tail), z, files["server"], log)
    return files
