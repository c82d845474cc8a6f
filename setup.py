"""Builds the Python module slimcodec (python/slimcodec + python/src/slimcodec_module.cpp) over include/.

pip install --no-build-isolation .          (Debian: python3-pybind11, python3-setuptools, python3-numpy)
On x86-64 the module is built for x86-64-v2 (SSE4.2: the hardware CRC-32C, every x86-64 CPU since about 2009);
SLIMCODEC_PY_NATIVE=1 builds it for this machine instead (-march=native: AVX2 or AVX-512 quantizer and encoder).
"""
import os
import platform

from pybind11.setup_helpers import Pybind11Extension
from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))
flags = ["-O2", "-DNDEBUG"]
if os.environ.get("SLIMCODEC_PY_NATIVE") == "1":
    flags.append("-march=native")
elif platform.machine() in ("x86_64", "AMD64"):
    flags.append("-march=x86-64-v2")

ext = Pybind11Extension(
    "slimcodec._slimcodec",
    ["python/src/slimcodec_module.cpp"],
    include_dirs=["include", "tools"],  # tools/support: the safetensors writer (table export)
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
