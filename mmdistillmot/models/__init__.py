"""Models: teachers, distillers, heads, necks, losses, MOT models and trackers."""

from mmdistillmot.models import (  # noqa: F401
    dense_heads,
    distillers,
    losses,
    mot,
    necks,
    reid,
    teachers,
    trackers,
)
