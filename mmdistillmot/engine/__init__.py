"""Engine components: hooks."""

from mmdistillmot.engine import hooks  # noqa: F401
