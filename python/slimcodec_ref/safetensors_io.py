"""A tiny safetensors reader/writer (torch 1.13 on Debian has no safetensors package).

Format: u64 little-endian header length N, N bytes of JSON
{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, "__metadata__": {str: str}},
padded with spaces to a multiple of 8, then the raw little-endian tensor bytes, offsets relative to that section.
"""
import json
import struct
from collections import OrderedDict
from typing import Dict, Mapping, Optional, Tuple

import numpy as np
import torch

_DTYPES = {
    torch.float32: ("F32", np.dtype("<f4")),
    torch.float64: ("F64", np.dtype("<f8")),
    torch.float16: ("F16", np.dtype("<f2")),
    torch.int64: ("I64", np.dtype("<i8")),
    torch.int32: ("I32", np.dtype("<i4")),
    torch.int16: ("I16", np.dtype("<i2")),
    torch.int8: ("I8", np.dtype("i1")),
    torch.uint8: ("U8", np.dtype("u1")),
    torch.bool: ("BOOL", np.dtype("?")),
}
_BY_NAME = {name: (tdtype, npdtype) for tdtype, (name, npdtype) in _DTYPES.items()}


def safetensors_bytes(tensors: Mapping[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> bytes:
    """Serialises tensors in the given order (data laid out in that order too)."""
    header = OrderedDict()
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        if name == "__metadata__":
            raise ValueError("'__metadata__' is reserved")
        if t.dtype not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        dname, npdtype = _DTYPES[t.dtype]
        raw = t.detach().cpu().contiguous().numpy().astype(npdtype, copy=False).tobytes()
        header[name] = {"dtype": dname, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # keeps the data section 8-byte aligned in the file
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def save_safetensors(path: str, tensors: Mapping[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None):
    with open(path, "wb") as f:
        f.write(safetensors_bytes(tensors, metadata))


def load_safetensors(path: str) -> Tuple["OrderedDict[str, torch.Tensor]", Dict[str, str]]:
    """Returns (tensors in header order, metadata). Checks offsets against the file; no other validation."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    if 8 + n > len(blob):
        raise ValueError(f"{path}: header length beyond the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=OrderedDict)
    data = blob[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = OrderedDict()
    for name, info in header.items():
        tdtype, npdtype = _BY_NAME[info["dtype"]]
        begin, end = info["data_offsets"]
        if not 0 <= begin <= end <= len(data):
            raise ValueError(f"{path}: {name}: data_offsets out of range")
        arr = np.frombuffer(data[begin:end], dtype=npdtype).reshape(info["shape"])
        tensors[name] = torch.from_numpy(arr.copy()).to(tdtype)
    return tensors, metadata
