"""pip install -e . : makes dnnlib, torch_utils, training and the scripts importable from anywhere."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
requirements = [line.split("#")[0].strip() for line in (here / "requirements.txt").read_text().splitlines()]

setup(
    name="nova3d",
    version="0.1.0",
    description="NOVA-3D: 3D anime character reconstruction from non-overlapping front and back views",
    python_requires=">=3.10",
    packages=find_packages(include=["dnnlib*", "torch_utils*", "training*", "_scripts*", "_train*"]),
    package_data={"torch_utils": ["ops/*.cu", "ops/*.cpp", "ops/*.h", "ops/*.cuh"]},
    install_requires=["torch>=2.1"] + [r for r in requirements if r],
)
