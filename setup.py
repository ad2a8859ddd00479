"""pip install -e . : makes dnnlib, torch_utils, training and the scripts importable from anywhere."""
from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent


def read_requirements(name: str) -> list[str]:
    return [r for r in (line.split("#")[0].strip() for line in (here / name).read_text().splitlines()) if r]


setup(
    name="nova3d",
    version="0.1.0",
    description="NOVA-3D: 3D anime character reconstruction from non-overlapping front and back views",
    python_requires=">=3.10",
    packages=find_packages(include=["dnnlib*", "torch_utils*", "training*", "_scripts*", "_train*"]),
    package_data={"torch_utils": ["ops/*.cu", "ops/*.cpp", "ops/*.h", "ops/*.cuh"], "_scripts.app": ["web/*"]},
    install_requires=["torch>=2.1"] + read_requirements("requirements.txt"),
    extras_require={"app": read_requirements("requirements-app.txt")},  # the web app: pip install -e .[app]
)
