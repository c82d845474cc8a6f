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

    def test_fx_teacher_normalises_and_classifies(self):
        teacher = FxTeacher(Net(), "stem", "net", input_size=(32, 32)).eval()
        x = torch.rand(3, 3, 32, 32) * 255
        with torch.no_grad():
            outputs, _ = teacher.tail(teacher.head(x))
        self.assertEqual(tuple(teacher.predictions(outputs).shape), (3, 10))
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
        with torch.no_grad():
            outputs, _ = teacher.tail(teacher.head(x))
            want = net((x - teacher.mean) / teacher.std)
        torch.testing.assert_close(outputs["logits"], want)


if __name__ == "__main__":
    unittest.main()
