"""Builds the Python module slimcodec (python/slimcodec + python/src/slimcodec_module.cpp) over include/.

pip install --no-build-isolation .          (Debian: python3-pybind11, python3-setuptools, python3-numpy)
SLIMCODEC_PY_NATIVE=1 adds -march=native (faster quantizer and encoder, not portable to older CPUs).
"""
import os

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))
flags = ["-O2", "-DNDEBUG"]
if os.environ.get("SLIMCODEC_PY_NATIVE") == "1":
    flags.append("-march=native")

ext = Pybind11Extension(
    "slimcodec._slimcodec",
    ["python/src/slimcodec_module.cpp"],
    include_dirs=["include"],
    cxx_std=17,
    extra_compile_args=flags,
)

setup(
    name="slimcodec",
    version="0.1.0",
    description="slimcodec split computing: wire format, codec 1, replies and the encoder from Python",
    packages=["slimcodec"],
    package_dir={"": "python"},
    ext_modules=[ext],
    install_requires=["numpy"],
    python_requires=">=3.9",
    zip_safe=False,
    # Build products under the project's build/ tree, beside the CMake builds, not in the source tree.
    options={"build": {"build_base": "build/py-binding/setuptools"},
             "egg_info": {"egg_base": "build/py-binding"}},
)
