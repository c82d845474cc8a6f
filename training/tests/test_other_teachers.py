"""Teachers other than the built-in one: any traceable module split with torch.fx, and TorchScript files with
`head` and `tail`."""
import os
import tempfile
import unittest

import torch
import torch.nn as nn

import _path  # noqa: F401
from slimtrain.teacher import FxTeacher, TorchScriptTeacher, fx_split
from slimtrain.tfjs_graph import GraphError


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 24, 3, 2, 1))
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(24, 16, 3, 2, 1), nn.ReLU())
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.body(self.stem(x)).mean(dim=(2, 3)))


class Skip(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 3, 1)
        self.b = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.b(self.a(x)) + x  # x crosses any cut after `a`


class Probe(nn.Module):
    """Its head is the identity, so the head's output is the input after the teacher's normalisation."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Identity()
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.stem(x).mean(dim=(2, 3)))


class FxSplitTest(unittest.TestCase):
    def test_head_then_tail_is_the_model(self):
        torch.manual_seed(0)
        net = Net().eval()
        head, tail = fx_split(net, "stem")
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            tap = head(x)
            self.assertEqual(tuple(tap.shape), (2, 24, 8, 8))
            torch.testing.assert_close(tail(tap), net(x))

    def test_a_skip_around_the_tap_is_refused(self):
        with self.assertRaises(GraphError):
            fx_split(Skip(), "a")

    def test_unknown_tap_is_refused(self):
        with self.assertRaises(GraphError):
            fx_split(Net(), "nope")

    def test_fx_teacher_normalises_with_imagenet_statistics(self):
        # An identity head shows what the split model receives: (pixel / 255 - mean) / std per channel, with
        # ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225), worked out here by hand.
        teacher = FxTeacher(Probe(), "stem", "probe", input_size=(2, 2)).eval()
        x = torch.tensor([0.0, 128.0, 255.0]).view(1, 3, 1, 1).repeat(1, 1, 2, 2)
        want = torch.tensor([(0 / 255 - 0.485) / 0.229,    # -2.1179
                             (128 / 255 - 0.456) / 0.224,  # 0.2052
                             (255 / 255 - 0.406) / 0.225])  # 2.6400
        with torch.no_grad():
            got = teacher.head(x)
        torch.testing.assert_close(got, want.view(1, 3, 1, 1).expand(1, 3, 2, 2))
        self.assertAlmostEqual(float(got[0, 0, 0, 0]), -2.1179, places=4)
        self.assertAlmostEqual(float(got[0, 2, 1, 1]), 2.6400, places=4)
        raw = FxTeacher(Probe(), "stem", "probe", input_size=(2, 2), normalize=False).eval()
        with torch.no_grad():
            torch.testing.assert_close(raw.head(x), x)

    def test_fx_teacher_classifies_the_normalised_image(self):
        torch.manual_seed(2)
        net = Net().eval()
        teacher = FxTeacher(net, "stem", "net", input_size=(32, 32)).eval()
        x = torch.rand(3, 3, 32, 32) * 255
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
        with torch.no_grad():
            outputs, _ = teacher.tail(teacher.head(x))
            want = net((x - mean) / std)
        torch.testing.assert_close(teacher.predictions(outputs), want)
        self.assertEqual(tuple(want.shape), (3, 10))
        self.assertEqual(teacher.tap_shape(), (24, 8, 8))
        self.assertEqual(teacher.metric, "top-1 agreement")


class TorchScriptTeacherTest(unittest.TestCase):
    def test_file_with_head_and_tail(self):
        class Split(nn.Module):
            def __init__(self, net):
                super().__init__()
                self.head = net.stem
                self.tail = nn.Sequential(net.body, Pool(), net.head)

        class Pool(nn.Module):
            def forward(self, x):
                return x.mean(dim=(2, 3))

        torch.manual_seed(1)
        net = Net().eval()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.pt")
            torch.jit.script(Split(net)).save(path)
            teacher = TorchScriptTeacher(path, input_size=(32, 32)).eval()
        x = torch.rand(2, 3, 32, 32) * 255
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 255  # ImageNet statistics, as for FxTeacher
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 255
        with torch.no_grad():
            outputs, _ = teacher.tail(teacher.head(x))
            want = net((x - mean) / std)
        torch.testing.assert_close(outputs["logits"], want)


if __name__ == "__main__":
    unittest.main()
