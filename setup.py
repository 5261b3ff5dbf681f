"""Install mmdistillmot (``pip install -e .``); runtime pins live in requirements/."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name: str) -> list[str]:
    """Return the requirement lines of ``requirements/<name>.txt`` without comments."""
    lines = (HERE / "requirements" / f"{name}.txt").read_text().splitlines()
    return [ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()]


def read_version() -> str:
    """Read ``__version__`` from mmdistillmot/version.py without importing the package."""
    namespace: dict[str, str] = {}
    exec((HERE / "mmdistillmot" / "version.py").read_text(), namespace)
    return namespace["__version__"]


setup(
    name="mmdistillmot",
    version=read_version(),
    description="Knowledge distillation for multi-object tracking, on MMDetection 3.x",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(exclude=("configs", "tools", "tests", "docs")),
    install_requires=read_requirements("runtime"),
    extras_require={
        "tests": read_requirements("tests"),
        "optional": read_requirements("optional"),
        "deploy": read_requirements("deploy"),
    },
    zip_safe=False,
)
