"""mmdistillmot: knowledge distillation for multi-object tracking on MMDetection 3.x.

Importing the package registers every component into mmdet's registries, so a config needs
only ``default_scope='mmdet'`` and
``custom_imports=dict(imports=['mmdistillmot'], allow_failed_imports=False)``.
"""

from mmdistillmot import compat  # noqa: F401  (safe checkpoint loading, first)
from mmdistillmot import datasets, engine, evaluation, models  # noqa: F401

# apis and visualization register nothing; they are imported where used.
from mmdistillmot.version import __version__

__all__ = ["__version__"]
