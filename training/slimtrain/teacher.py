"""Teachers: a frozen network split at a named feature tap into head (image -> tap) and tail (tap -> outputs).

The student replaces the head: its reconstructor must produce the tap, and the tail then runs unchanged.
Every teacher takes N x 3 x H x W RGB images with values 0..255 (float) and normalises them itself.
  centernet[:MODEL_JSON]            the built-in COCO detector (TFJS graph; scripts/fetch-teacher)
  torchscript:FILE.pt               a TorchScript module with submodules or methods `head` and `tail`
  torchvision:ARCH:WEIGHTS.pth:TAP  a torchvision model built locally, split at module TAP with torch.fx
Nothing is downloaded at run time.
"""
import os
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from . import centernet, paths
from .tfjs_graph import GraphError, TfjsGraph

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class Teacher(nn.Module):
    """Base class. Subclasses set name, tap, input_size and metric, and implement head/tail."""

    name = "teacher"
    tap = ""
    input_size = (512, 512)  # (H, W) the teacher is run at
    metric = "mAP@[.5:.95]"  # or "top-1 agreement"
    later_taps: Tuple[str, ...] = ()

    def head(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def tail(self, tap: torch.Tensor,
             taps: Sequence[str] = ()) -> Tuple[Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        """Returns (outputs, later tap features NCHW). taps lists which of later_taps to return."""
        raise NotImplementedError

    def predictions(self, outputs: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Detections N x k x 6 (x1, y1, x2, y2, score, class) in input pixels, or logits N x classes."""
        raise NotImplementedError

    def export_tail(self) -> nn.Module:
        """A module tap (1 x C x h x w) -> one 1 x C' x h' x w' tensor, for TorchScript and the LibTorch backend."""
        raise NotImplementedError

    def tap_shape(self) -> Tuple[int, int, int]:
        """(C, h, w) of the tap at input_size."""
        if not hasattr(self, "_tap_shape"):
            dev = next(iter(self.buffers()), torch.zeros(())).device
            with torch.no_grad():
                t = self.head(torch.zeros(1, 3, *self.input_size, device=dev))
            self._tap_shape = tuple(t.shape[1:])
        return self._tap_shape

    def train(self, mode: bool = True):
        return super().train(False)  # frozen: always in inference mode


class CenterNetTeacher(Teacher):
    """The MobileNetV3-CenterNet COCO detector shipped by @vladmandic/human (TFJS graph, fp16 weights)."""

    name = "centernet-mobilenetv3"
    metric = "mAP@[.5:.95]"

    def __init__(self, model_json: Optional[str] = None, tap: str = "expanded_conv_2/add",
                 later_taps: Sequence[str] = ("expanded_conv_5/add", "expanded_conv_11/add", "expanded_conv_14/add")):
        super().__init__()
        model_json = model_json or os.path.join(paths.kTeacherDir, "centernet.json")
        if not os.path.exists(model_json):
            raise FileNotFoundError(f"{model_json} is missing: run scripts/fetch-teacher first")
        graph = TfjsGraph(model_json)
        self.model_json = model_json
        self.tap = tap
        self.later_taps = tuple(later_taps)
        dims = graph.signature["inputs"]["tower_0/images"]["tensorShape"]["dim"]
        self.input_size = (int(dims[1]["size"]), int(dims[2]["size"]))
        self._head = graph.function(["tower_0/images"], [tap])
        self._tail = graph.function([tap], ["tower_0/keypoints", "tower_0/wh", *self.later_taps])
        self._tail_only = graph.function([tap], ["tower_0/keypoints", "tower_0/wh"])
        # The converter folded the upsampling sizes for 512 x 512; calibrating makes them 2x factors, so the
        # teacher also runs at other input sizes (the CPU smoke configuration uses 128 x 128).
        with torch.no_grad():
            native_tap = self._head(torch.zeros(1, *self.input_size, 3))[0]
        self._tail.calibrate_resizes(native_tap)
        self._tail_only.calibrate_resizes(native_tap)
        self._tap_shape = (native_tap.shape[3], native_tap.shape[1], native_tap.shape[2])
        self.requires_grad_(False)

    def head(self, images):
        return self._head(images.permute(0, 2, 3, 1))[0].permute(0, 3, 1, 2)

    def tail(self, tap, taps=()):
        unknown = set(taps) - set(self.later_taps)
        if unknown:
            raise ValueError(f"unknown later taps {sorted(unknown)}; available: {self.later_taps}")
        fn = self._tail if taps else self._tail_only
        outs = fn(tap.permute(0, 2, 3, 1))
        extra = {t: outs[2 + self.later_taps.index(t)].permute(0, 3, 1, 2) for t in taps}
        return {"keypoints": outs[0], "wh": outs[1]}, extra

    def predictions(self, outputs):
        return centernet.decode_detections(outputs["keypoints"], outputs["wh"])

    def export_tail(self):
        return _CenterNetTailExport(self._tail_only)


class _CenterNetTailExport(nn.Module):
    """tap NCHW -> 1 x 84 x h x w: channels 0..79 class heatmaps (sigmoid), 80..83 box extents (l, t, r, b)."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, tap):
        kp, wh = self.fn(tap.permute(0, 2, 3, 1))
        return torch.cat([kp, wh], dim=-1).permute(0, 3, 1, 2).contiguous()


class TorchScriptTeacher(Teacher):
    """A TorchScript file whose module has `head` and `tail` (submodules or methods). The tail returns a tensor
    (logits, or a detector's own output) and is treated as a classifier when it returns N x classes."""

    def __init__(self, path: str, input_size=(224, 224), normalize: bool = True):
        super().__init__()
        self.module = torch.jit.load(path, map_location="cpu")
        self.name = "torchscript:" + os.path.basename(path)
        self.tap = "head"
        self.input_size = tuple(input_size)
        self.normalize = normalize
        self.metric = "top-1 agreement"
        self._register_norm()
        self.requires_grad_(False)

    def _register_norm(self):
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1) * 255.0)

    def head(self, images):
        x = (images - self.mean) / self.std if self.normalize else images
        return self.module.head(x)

    def tail(self, tap, taps=()):
        if taps:
            raise ValueError("TorchScript teachers expose no later taps")
        return {"logits": self.module.tail(tap)}, {}

    def predictions(self, outputs):
        return outputs["logits"]

    def export_tail(self):
        return _Call(self.module.tail)


class _Call(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        y = self.fn(x)
        return y.reshape(y.shape[0], -1, 1, 1) if y.dim() == 2 else y


def fx_split(module: nn.Module, tap: str) -> Tuple[nn.Module, nn.Module]:
    """Splits a traceable module at node/submodule `tap` into head (input -> tap) and tail (tap -> output).
    Fails when a value other than the tap crosses the cut (a skip connection around it)."""
    import torch.fx as fx
    gm = fx.symbolic_trace(module)
    nodes = list(gm.graph.nodes)
    hits = [n for n in nodes if n.name == tap or (n.op == "call_module" and n.target == tap)]
    if not hits:  # a container module (fx traces through it): its last leaf call is its output
        hits = [n for n in nodes if n.op == "call_module" and str(n.target).startswith(tap + ".")][-1:]
    if len(hits) != 1:
        raise GraphError(f"tap {tap!r} matches {len(hits)} nodes of the traced module")
    tap_node = hits[0]
    cut = nodes.index(tap_node)
    before = set(nodes[:cut + 1])
    head_g, env = fx.Graph(), {}
    for n in nodes[:cut + 1]:
        env[n] = head_g.node_copy(n, lambda a: env[a])
    head_g.output(env[tap_node])
    tail_g = fx.Graph()
    env = {tap_node: tail_g.placeholder("tap")}
    for n in nodes[cut + 1:]:
        crossing = [a.name for a in n.all_input_nodes if a in before and a is not tap_node]
        if crossing:
            raise GraphError(f"{n.name} reads {crossing} from before the tap: {tap!r} does not cut the network")
        env[n] = tail_g.node_copy(n, lambda a: env[a])
    head = fx.GraphModule(gm, head_g)
    head.graph.eliminate_dead_code()  # branches before the tap that only the tail would have used
    head.recompile()
    return head, fx.GraphModule(gm, tail_g)


class FxTeacher(Teacher):
    """Any nn.Module (e.g. a torchvision model with locally stored weights) split at a submodule with torch.fx."""

    def __init__(self, module: nn.Module, tap: str, name: str, input_size=(224, 224), normalize: bool = True):
        super().__init__()
        self._h, self._t = fx_split(module.eval(), tap)
        self.name = name
        self.tap = tap
        self.input_size = tuple(input_size)
        self.normalize = normalize
        self.metric = "top-1 agreement"
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1) * 255.0)
        self.requires_grad_(False)

    def head(self, images):
        x = (images - self.mean) / self.std if self.normalize else images
        return self._h(x)

    def tail(self, tap, taps=()):
        if taps:
            raise ValueError("torch.fx teachers expose no later taps")
        return {"logits": self._t(tap)}, {}

    def predictions(self, outputs):
        return outputs["logits"]

    def export_tail(self):
        return _Call(self._t)


def load_teacher(spec: str = "centernet") -> Teacher:
    """Builds a teacher from a spec string (see the module docstring)."""
    kind, _, rest = spec.partition(":")
    if kind == "centernet":
        return CenterNetTeacher(rest or None).eval()
    if kind == "torchscript":
        return TorchScriptTeacher(rest).eval()
    if kind == "torchvision":
        arch, weights, tap = rest.split(":")
        import torchvision
        model = getattr(torchvision.models, arch)()
        state = torch.load(weights, map_location="cpu")
        model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
        return FxTeacher(model, tap, f"torchvision:{arch}").eval()
    raise ValueError(f"unknown teacher spec {spec!r}")
