"""mmdistillmot: knowledge distillation for multi-object tracking on MMDetection 3.x.

Importing the package registers every component into mmdet's registries, so a config needs
only ``default_scope='mmdet'`` and
``custom_imports=dict(imports=['mmdistillmot'], allow_failed_imports=False)``. ``compat``
allow-lists mmengine's checkpoint types for torch's safe loader. ``apis`` and
``visualization`` register nothing; they are imported where used.
"""

from mmdistillmot import compat, datasets, engine, evaluation, models  # noqa: F401
from mmdistillmot.version import __version__

__all__ = ["__version__"]
