"""Repository locations, and the import path of the PyTorch reference model (python/slimcodec_ref)."""
import os
import sys

kRepoRoot = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
kTeacherDir = os.path.join(kRepoRoot, "build", "teacher", "package", "models")
kDefaultDataDir = os.path.join(kRepoRoot, "build", "train-data")
kWideDataDir = os.path.join(kRepoRoot, "build", "wide-data")  # the wider held-out set (wide.py)
kWeightsDir = os.path.join(kRepoRoot, "training", "weights")
kDocsDir = os.path.join(kRepoRoot, "docs")

# The reference modules are imported, never copied: their state_dict names are the C++ tensor names. Appended, not
# prepended: python/ also holds the source of the compiled `slimcodec` module, and a built one on PYTHONPATH
# (docs/python.md) must win over that unbuilt source.
_ref = os.path.join(kRepoRoot, "python")
if _ref not in sys.path:
    sys.path.append(_ref)
