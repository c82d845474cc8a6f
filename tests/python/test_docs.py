"""docs/python.md's one-screen example runs as written (from the checkout's root, like the README's example)."""
import os
import subprocess
import sys

from conftest import ROOT


def test_docs_example_runs(sc):
    with open(os.path.join(ROOT, "docs", "python.md")) as f:
        text = f.read()
    block = text.split("<!-- python-example begin -->", 1)[1].split("<!-- python-example end -->", 1)[0]
    code = block.split("```python\n", 1)[1].rsplit("```", 1)[0]
    # From the checkout's root, with the module this test imported (PYTHONPATH may be relative to elsewhere).
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(sc.__file__))))
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Frame(id=1, s=2, b=4, shape=(6, 96, 96)") and lines[0].endswith("True")
    assert lines[1] == "[Detection(class_id=0, score=0.9, x1=10, y1=20, x2=110, y2=220)]"
    assert lines[2] == "CrcMismatch 36 frame CRC-32C mismatch"
