"""TensorFlow.js graph models (model.json + weight shards) executed with torch ops, with TensorFlow's semantics.

Tensors stay NHWC as in TensorFlow, so axes, reshapes and slices mean what the graph says; convolutions run on a
permuted view (a channels-last tensor to torch, so no copy on GPU). What matters for bit-level agreement with
TFJS: SAME padding is asymmetric on stride-2 layers (the extra row/column goes after), and ResizeBilinear without
half_pixel_centers samples at dst * in / out (TF's legacy mode). `TfjsGraph.function(inputs, outputs)` cuts any
sub-graph out, which is how a teacher is split into head (input -> tap) and tail (tap -> outputs).
"""
import base64
import json
import math
import os
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_NP_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANT_DTYPES = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}
_TF_DTYPES = {"DT_FLOAT": torch.float32, "DT_INT32": torch.int64, "DT_BOOL": torch.bool, "DT_INT64": torch.int64}


class GraphError(ValueError):
    pass


def _attr_str(node: dict, key: str, default: str = "") -> str:
    a = node.get("attr", {}).get(key)
    return base64.b64decode(a["s"]).decode() if a and "s" in a else default


def _attr_ints(node: dict, key: str) -> List[int]:
    a = node.get("attr", {}).get(key)
    return [int(v) for v in a["list"].get("i", [])] if a and "list" in a else []


def _attr_strs(node: dict, key: str) -> List[str]:
    a = node.get("attr", {}).get(key)
    return [base64.b64decode(s).decode() for s in a["list"].get("s", [])] if a and "list" in a else []


def _attr_int(node: dict, key: str, default: int = 0) -> int:
    a = node.get("attr", {}).get(key)
    return int(a["i"]) if a and "i" in a else default


def _attr_bool(node: dict, key: str, default: bool = False) -> bool:
    a = node.get("attr", {}).get(key)
    return bool(a["b"]) if a and "b" in a else default


def _attr_float(node: dict, key: str, default: float = 0.0) -> float:
    a = node.get("attr", {}).get(key)
    return float(a["f"]) if a and "f" in a else default


def _split_input(ref: str) -> Tuple[str, int]:
    """'name' -> (name, 0), 'name:1' -> (name, 1)."""
    name, _, idx = ref.partition(":")
    return name, int(idx) if idx else 0


def load_weights(model_dir: str, manifest: list) -> Dict[str, torch.Tensor]:
    """Decodes every weight of a TFJS weights manifest (float16/uint8/uint16 quantization included)."""
    out = {}
    for group in manifest:
        blob = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            shape = [int(d) for d in w["shape"]]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if q:
                qtype = _QUANT_DTYPES.get(q["dtype"])
                if qtype is None:
                    raise GraphError(f"{w['name']}: unsupported quantization {q['dtype']}")
                n = count * np.dtype(qtype).itemsize
                raw = np.frombuffer(blob, dtype=qtype, count=count, offset=offset)
                if q["dtype"] == "float16":
                    arr = raw.astype(np.float32)
                else:  # affine integer quantization: v = q * scale + min
                    arr = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
            else:
                dt = _NP_DTYPES.get(w["dtype"])
                if dt is None:
                    raise GraphError(f"{w['name']}: unsupported dtype {w['dtype']}")
                n = count * np.dtype(dt).itemsize
                arr = np.frombuffer(blob, dtype=dt, count=count, offset=offset)
            if offset + n > len(blob):
                raise GraphError(f"{w['name']}: weights run past the end of the shards")
            offset += n
            t = torch.from_numpy(np.array(arr).reshape(shape))
            out[w["name"]] = t.long() if t.dtype == torch.int32 else t
        if offset != len(blob):
            raise GraphError(f"weight shards hold {len(blob) - offset} bytes more than the manifest describes")
    return out


# ------------------------------ padding and resizing with TensorFlow's rules
def same_pads(size: int, k: int, stride: int, dilation: int = 1) -> Tuple[int, int]:
    """TF SAME padding: out = ceil(size / stride); the odd extra pixel goes after (bottom/right)."""
    eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _pad_for(x_nchw: torch.Tensor, kh: int, kw: int, strides, dilations, padding: str, explicit=None):
    """Returns (x, conv_padding): symmetric pads go to the conv, asymmetric ones to F.pad."""
    if padding == "VALID":
        return x_nchw, 0
    if padding == "EXPLICIT":
        # explicit_paddings: [n_before, n_after, h_before, h_after, w_before, w_after, c_before, c_after] (NHWC)
        top, bottom, left, right = explicit[2], explicit[3], explicit[4], explicit[5]
    elif padding == "SAME":
        top, bottom = same_pads(x_nchw.shape[2], kh, strides[0], dilations[0])
        left, right = same_pads(x_nchw.shape[3], kw, strides[1], dilations[1])
    else:
        raise GraphError(f"unsupported padding {padding}")
    if top == bottom and left == right:
        return x_nchw, (top, left)
    return F.pad(x_nchw, (left, right, top, bottom)), 0


def _resize_axis_taps(in_size: int, out_size: int, align_corners: bool, half_pixel: bool, device):
    """Source taps and weights of TF's ResizeBilinear along one axis."""
    if align_corners and out_size > 1:
        scale = (in_size - 1) / (out_size - 1)
    else:
        scale = in_size / out_size
    dst = torch.arange(out_size, dtype=torch.float64, device=device)
    src = (dst + 0.5) * scale - 0.5 if half_pixel else dst * scale
    lo = torch.floor(src)
    frac = src - lo
    i0 = lo.long().clamp(0, in_size - 1)
    i1 = (lo.long() + 1).clamp(0, in_size - 1)
    return i0, i1, frac


def resize_bilinear_nhwc(x: torch.Tensor, size: Sequence[int], align_corners: bool, half_pixel: bool):
    """tf.image.resize_bilinear (v1 ResizeBilinear op) on an NHWC tensor."""
    n, h, w, c = x.shape
    oh, ow = int(size[0]), int(size[1])
    y0, y1, fy = _resize_axis_taps(h, oh, align_corners, half_pixel, x.device)
    x0, x1, fx = _resize_axis_taps(w, ow, align_corners, half_pixel, x.device)
    top = x.index_select(1, y0)
    bot = x.index_select(1, y1)
    fy = fy.to(x.dtype).view(1, oh, 1, 1)
    rows = top + (bot - top) * fy
    left = rows.index_select(2, x0)
    right = rows.index_select(2, x1)
    fx = fx.to(x.dtype).view(1, 1, ow, 1)
    return left + (right - left) * fx


# ------------------------------ op kernels
def _activation(name: str, y: torch.Tensor, node: dict, extra: List[torch.Tensor]):
    if name == "Relu":
        return F.relu(y)
    if name == "Relu6":
        return y.clamp(0.0, 6.0)
    if name == "Elu":
        return F.elu(y)
    if name == "Sigmoid":
        return torch.sigmoid(y)
    if name == "Tanh":
        return torch.tanh(y)
    if name == "LeakyRelu":
        return F.leaky_relu(y, _attr_float(node, "leakyrelu_alpha", 0.2))
    if name == "Prelu":
        return torch.where(y >= 0, y, y * extra[0])
    raise GraphError(f"{node['name']}: unsupported fused activation {name}")


def _strided_slice(x, begin, end, strides, node):
    masks = {k: _attr_int(node, k) for k in ("begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask",
                                             "shrink_axis_mask")}
    if masks["ellipsis_mask"] or masks["new_axis_mask"]:
        raise GraphError(f"{node['name']}: StridedSlice with ellipsis/new_axis masks is not supported")
    index = []
    for i in range(len(begin)):
        b = None if masks["begin_mask"] >> i & 1 else int(begin[i])
        e = None if masks["end_mask"] >> i & 1 else int(end[i])
        s = int(strides[i])
        if s <= 0:
            raise GraphError(f"{node['name']}: StridedSlice with stride {s} is not supported")
        if masks["shrink_axis_mask"] >> i & 1:
            index.append(int(begin[i]))
        else:
            index.append(slice(b, e, s))
    return x[tuple(index)]


class _Node:
    __slots__ = ("name", "op", "inputs", "raw")

    def __init__(self, raw: dict):
        self.name = raw["name"]
        self.op = raw["op"]
        self.inputs = [_split_input(i) for i in raw.get("input", []) if not i.startswith("^")]
        self.raw = raw


class TfjsGraph:
    """A parsed TFJS graph model. Nothing is executed here; function() builds runnable modules."""

    def __init__(self, model_json: str):
        with open(model_json, "r", encoding="utf-8") as f:
            spec = json.load(f)
        if spec.get("format") != "graph-model":
            raise GraphError(f"{model_json}: not a TFJS graph model (format {spec.get('format')!r})")
        self.path = model_json
        self.nodes: "OrderedDict[str, _Node]" = OrderedDict()
        for raw in spec["modelTopology"]["node"]:
            self.nodes[raw["name"]] = _Node(raw)
        self.weights = load_weights(os.path.dirname(model_json), spec["weightsManifest"])
        self.signature = spec.get("signature", {})
        for name, node in self.nodes.items():
            if node.op == "Const" and name not in self.weights:
                raise GraphError(f"{name}: constant without data in the weights manifest")

    def resolve(self, name: str) -> str:
        """A node by full name or by unique suffix ('expanded_conv_2/add')."""
        if name in self.nodes:
            return name
        hits = [n for n in self.nodes if n.endswith("/" + name)]
        if len(hits) != 1:
            raise GraphError(f"{name!r} matches {len(hits)} nodes" + (f": {hits[:4]}" if hits else ""))
        return hits[0]

    def placeholders(self) -> List[str]:
        return [n for n, v in self.nodes.items() if v.op == "Placeholder"]

    def function(self, inputs: Sequence[str], outputs: Sequence[str]) -> "GraphFunction":
        return GraphFunction(self, [self.resolve(i) for i in inputs], [self.resolve(o) for o in outputs])


class GraphFunction(nn.Module):
    """outputs = f(inputs) for a cut of a TfjsGraph. Weights are buffers (they follow .to(device)), frozen."""

    def __init__(self, graph: TfjsGraph, inputs: List[str], outputs: List[str]):
        super().__init__()
        self.input_names = list(inputs)
        self.output_names = list(outputs)
        order = self._schedule(graph, inputs, outputs)
        self._steps: List[Tuple[str, str, List[Tuple[str, int]], dict]] = []
        self._consts: Dict[str, str] = {}  # const node name -> buffer name
        self._host_consts: Dict[str, torch.Tensor] = {}  # small int consts read on the host (shapes, axes)
        for name in order:
            node = graph.nodes[name]
            if node.op == "Const":
                t = graph.weights[name]
                if t.dtype == torch.int64 or t.dtype == torch.bool:
                    self._host_consts[name] = t
                buf = f"c{len(self._consts)}"
                self.register_buffer(buf, t.clone(), persistent=True)
                self._consts[name] = buf
            elif name not in inputs:
                self._steps.append((name, node.op, node.inputs, node.raw))
        self._prepare_weights(graph)
        # Liveness: each value is dropped after its last reader (keeps peak memory low without autograd).
        last_use: Dict[str, int] = {}
        for i, (_, _, ins, _) in enumerate(self._steps):
            for src, _ in ins:
                last_use[src] = i
        self._free_after: List[List[str]] = [[] for _ in self._steps]
        keep = set(outputs)
        for src, i in last_use.items():
            if src not in keep and src not in self._consts:
                self._free_after[i].append(src)
        self._resize_factor: Dict[str, Tuple[float, float]] = {}
        self._resize_size_const: Dict[str, str] = {}
        self._probe: Optional[Dict[str, Tuple[int, int]]] = None

    def calibrate_resizes(self, *native_inputs: torch.Tensor):
        """Makes ResizeBilinear sizes relative: run once on inputs of the size the graph was converted for, so
        that a constant output size (folded by the converter) becomes a scale factor and other input sizes work."""
        self._resize_factor = {}
        self._probe = {}
        try:
            with torch.no_grad():
                self.forward(*native_inputs)
            probe = self._probe
        finally:
            self._probe = None
        for name, (h, w) in probe.items():
            oh, ow = (int(v) for v in self._host(self._resize_size_const[name]).tolist())
            self._resize_factor[name] = (oh / h, ow / w)

    @staticmethod
    def _schedule(graph: TfjsGraph, inputs: Sequence[str], outputs: Sequence[str]) -> List[str]:
        """Nodes needed for outputs given inputs, in dependency order; fails if the cut leaks to other inputs."""
        stop = set(inputs)
        order, state = [], {}
        for out in outputs:
            stack = [(out, False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(name)
                    continue
                if state.get(name) == 2:
                    continue
                if state.get(name) == 1:
                    raise GraphError(f"cycle through {name}")
                if name not in graph.nodes:
                    raise GraphError(f"unknown node {name}")
                state[name] = 1
                stack.append((name, True))
                if name in stop:
                    continue
                node = graph.nodes[name]
                if node.op == "Placeholder":
                    raise GraphError(f"outputs {list(outputs)} depend on input {name}, which is not among "
                                     f"{list(inputs)}: the cut does not separate the graph")
                for src, _ in node.inputs:
                    if state.get(src) != 2:
                        stack.append((src, False))
        return order

    def _prepare_weights(self, graph: TfjsGraph):
        """Converts conv filters to torch layout once: HWIO -> OIHW, depthwise HWCM -> (C*M)1HW."""
        self._filters: Dict[str, str] = {}
        for name, op, ins, _ in self._steps:
            if op in ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
                src = ins[1][0]
                if src not in self._consts:
                    raise GraphError(f"{name}: filter {src} is not a constant")
                w = graph.weights[src].float()
                if "Depthwise" in op:
                    kh, kw, c, m = w.shape
                    w = w.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
                else:
                    w = w.permute(3, 2, 0, 1)
                buf = f"f{len(self._filters)}"
                self.register_buffer(buf, w.contiguous(), persistent=True)
                self._filters[name] = buf

    def _host(self, name: str) -> torch.Tensor:
        t = self._host_consts.get(name)
        if t is None:
            raise GraphError(f"{name} must be an integer constant (shape, axis or size)")
        return t

    def forward(self, *args: torch.Tensor):
        if len(args) != len(self.input_names):
            raise GraphError(f"expected {len(self.input_names)} inputs, got {len(args)}")
        env: Dict[str, list] = {n: [a] for n, a in zip(self.input_names, args)}
        for cname, buf in self._consts.items():
            env[cname] = [getattr(self, buf)]
        for i, (name, op, ins, raw) in enumerate(self._steps):
            vals = [env[s][k] for s, k in ins]
            env[name] = self._run(name, op, ins, raw, vals)
            for dead in self._free_after[i]:
                env.pop(dead, None)
        outs = tuple(env[o][0] for o in self.output_names)
        return outs

    def _conv(self, name, raw, x, bias, depthwise: bool):
        w = getattr(self, self._filters[name])
        strides = _attr_ints(raw, "strides") or [1, 1, 1, 1]
        dil = _attr_ints(raw, "dilations") or [1, 1, 1, 1]
        fmt = _attr_str(raw, "data_format", "NHWC")
        if fmt != "NHWC":
            raise GraphError(f"{name}: data_format {fmt} is not supported")
        xc = x.permute(0, 3, 1, 2)
        xc, pad = _pad_for(xc, w.shape[2], w.shape[3], strides[1:3], dil[1:3], _attr_str(raw, "padding"),
                           _attr_ints(raw, "explicit_paddings"))
        groups = xc.shape[1] if depthwise else 1
        y = F.conv2d(xc, w.to(xc.dtype), None if bias is None else bias.to(xc.dtype), stride=tuple(strides[1:3]),
                     padding=pad, dilation=tuple(dil[1:3]), groups=groups)
        return y.permute(0, 2, 3, 1)

    def _run(self, name, op, ins, raw, v):
        if op in ("Identity", "StopGradient", "Snapshot"):
            return [v[0]]
        if op in ("Conv2D", "DepthwiseConv2dNative"):
            return [self._conv(name, raw, v[0], None, op.startswith("Depthwise"))]
        if op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            fused = _attr_strs(raw, "fused_ops")
            if not fused or fused[0] != "BiasAdd":
                raise GraphError(f"{name}: fused ops {fused} are not supported (BiasAdd first expected)")
            y = self._conv(name, raw, v[0], v[2], op.startswith("Fused"))
            for act in fused[1:]:
                y = _activation(act, y, raw, v[3:])
            return [y]
        if op in ("Add", "AddV2", "BiasAdd"):
            return [v[0] + v[1]]
        if op == "Sub":
            return [v[0] - v[1]]
        if op == "Mul":
            return [v[0] * v[1]]
        if op == "RealDiv":
            return [v[0] / v[1]]
        if op == "Maximum":
            return [torch.maximum(v[0], v[1])]
        if op == "Minimum":
            return [torch.minimum(v[0], v[1])]
        if op == "FloorDiv":
            return [torch.div(v[0], v[1], rounding_mode="floor")]
        if op == "FloorMod":
            return [torch.remainder(v[0], v[1])]
        if op == "Relu":
            return [F.relu(v[0])]
        if op == "Relu6":
            return [v[0].clamp(0.0, 6.0)]
        if op == "Sigmoid":
            return [torch.sigmoid(v[0])]
        if op == "Tanh":
            return [torch.tanh(v[0])]
        if op == "Equal":
            return [v[0] == v[1]]
        if op == "Cast":
            dst = raw["attr"]["DstT"]["type"]
            if dst not in _TF_DTYPES:
                raise GraphError(f"{name}: Cast to {dst} is not supported")
            return [v[0].to(_TF_DTYPES[dst])]
        if op == "Mean":
            axes = [int(a) for a in self._host(ins[1][0]).flatten().tolist()]
            return [v[0].mean(dim=axes, keepdim=_attr_bool(raw, "keep_dims"))]
        if op == "ConcatV2":
            axis = int(self._host(ins[-1][0]))
            return [torch.cat(v[:-1], dim=axis)]
        if op == "ResizeBilinear":
            size = self._host(ins[1][0]).tolist()
            if self._probe is not None:
                self._probe[name] = (int(v[0].shape[1]), int(v[0].shape[2]))
                self._resize_size_const[name] = ins[1][0]
            elif name in self._resize_factor:
                fh, fw = self._resize_factor[name]
                size = [int(round(int(v[0].shape[1]) * fh)), int(round(int(v[0].shape[2]) * fw))]
            return [resize_bilinear_nhwc(v[0], size, _attr_bool(raw, "align_corners"),
                                         _attr_bool(raw, "half_pixel_centers"))]
        if op == "MaxPool":
            k = _attr_ints(raw, "ksize")
            s = _attr_ints(raw, "strides")
            xc = v[0].permute(0, 3, 1, 2)
            padding = _attr_str(raw, "padding")
            if padding == "SAME":
                top, bottom = same_pads(xc.shape[2], k[1], s[1])
                left, right = same_pads(xc.shape[3], k[2], s[2])
                xc = F.pad(xc, (left, right, top, bottom), value=-math.inf)
            y = F.max_pool2d(xc, (k[1], k[2]), (s[1], s[2]))
            return [y.permute(0, 2, 3, 1)]
        if op == "Reshape":
            shape = [int(d) for d in self._host(ins[1][0]).tolist()]
            return [v[0].reshape(shape)]
        if op == "ExpandDims":
            return [v[0].unsqueeze(int(self._host(ins[1][0])))]
        if op == "Squeeze":
            dims = _attr_ints(raw, "squeeze_dims")
            y = v[0]
            for d in sorted(dims, reverse=True):
                y = y.squeeze(d)
            return [y if dims else v[0].squeeze()]
        if op == "TopKV2":
            k = int(self._host(ins[1][0]))
            # TF breaks ties towards the lower index: a stable descending sort does the same.
            vals, idx = torch.sort(v[0], dim=-1, descending=True, stable=True)
            return [vals[..., :k], idx[..., :k]]
        if op == "GatherV2":
            axis = int(self._host(ins[2][0]))
            if _attr_int(raw, "batch_dims"):
                raise GraphError(f"{name}: GatherV2 with batch_dims is not supported")
            idx = v[1].long()
            y = v[0].index_select(axis, idx.flatten())
            shape = list(v[0].shape[:axis]) + list(idx.shape) + list(v[0].shape[axis + 1:])
            return [y.reshape(shape)]
        if op == "StridedSlice":
            b, e, s = (self._host(ins[i][0]).tolist() for i in (1, 2, 3))
            return [_strided_slice(v[0], b, e, s, raw)]
        if op == "Pad":
            pads = self._host(ins[1][0]).tolist()
            flat = [p for pair in reversed(pads) for p in pair]
            return [F.pad(v[0], flat)]
        raise GraphError(f"{name}: op {op} is not supported")
