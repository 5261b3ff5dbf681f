"""What one synthetic person looks like: clothing colours and textures, hair, build, height.

Identities are drawn from palettes of everyday colours with a small per-person shade jitter, so
two people are almost never identical, and *look-alikes* can be made on purpose: a copy of an
identity with the same clothing colours and one or two small differences (a logo, a backpack,
another haircut, a slightly different shade), the hard case for appearance-based association.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

__all__ = [
    "TOP_PATTERNS",
    "Appearance",
    "IdentitySampler",
    "appearance_distance",
    "sample_appearance",
    "sample_lookalike",
]

Color = tuple[int, int, int]  # BGR, as OpenCV draws

#: Torso textures: plain, horizontal stripes, checks, two vertical halves, a chest band, a logo.
TOP_PATTERNS = ("plain", "stripes", "checks", "split", "band", "logo")
_TOP_PATTERN_P = (0.34, 0.18, 0.1, 0.12, 0.14, 0.12)

# Everyday clothing colours (BGR); the per-person jitter in _jitter makes each one unique.
_TOPS: tuple[Color, ...] = (
    (235, 235, 235),  # white
    (35, 35, 35),  # black
    (128, 128, 128),  # grey
    (90, 40, 20),  # navy
    (180, 110, 40),  # blue
    (225, 190, 140),  # light blue
    (40, 40, 200),  # red
    (40, 30, 110),  # maroon
    (60, 140, 50),  # green
    (50, 110, 110),  # olive
    (40, 200, 230),  # yellow
    (30, 130, 240),  # orange
    (170, 130, 235),  # pink
    (130, 50, 110),  # purple
    (150, 185, 205),  # beige
    (40, 70, 110),  # brown
)
_BOTTOMS: tuple[Color, ...] = (
    (140, 90, 50),  # denim
    (70, 40, 25),  # dark navy
    (30, 30, 30),  # black
    (100, 100, 100),  # grey
    (120, 165, 190),  # khaki
    (40, 60, 90),  # brown
    (50, 85, 80),  # olive
    (210, 210, 210),  # white
)
_HAIR: tuple[Color, ...] = (
    (20, 20, 25),
    (25, 40, 60),
    (40, 70, 110),
    (100, 170, 210),
    (160, 160, 160),
    (40, 70, 160),
)
_SKIN: tuple[Color, ...] = (
    (190, 210, 240),
    (150, 180, 225),
    (110, 150, 200),
    (80, 115, 165),
    (50, 75, 115),
)
_SHOES: tuple[Color, ...] = ((25, 25, 25), (230, 230, 230), (40, 60, 90), (110, 110, 110))
_ACCESSORY: tuple[Color, ...] = (
    (30, 30, 30),
    (60, 60, 150),
    (120, 70, 30),
    (40, 120, 40),
    (20, 160, 200),
    (200, 200, 200),
)


@dataclass(frozen=True)
class Appearance:
    """The look of one identity; colours are BGR tuples.

    Attributes:
        skin: Skin colour of face, hands and bare legs.
        hair: Hair colour.
        hair_style: ``'short'``, ``'long'`` (down to the shoulders) or ``'bald'``.
        top: Main colour of shirt or jacket.
        top_secondary: Second colour used by the torso pattern.
        top_pattern: One of :data:`TOP_PATTERNS`.
        pattern_scale: Stripe or check period as a fraction of body height.
        long_sleeves: Whether the arms are covered by ``top`` down to the wrists.
        bottom: Trousers, shorts or skirt colour.
        bottom_style: ``'trousers'``, ``'shorts'`` or ``'skirt'``.
        shoes: Shoe colour.
        backpack: Backpack colour, or ``None`` for no backpack.
        hat: Cap colour, or ``None`` for no cap.
        height_m: Body height in metres (sets the size in the image together with depth).
        build: Width factor of torso and limbs, about 0.85 (slim) to 1.2 (broad).
    """

    skin: Color
    hair: Color
    hair_style: str
    top: Color
    top_secondary: Color
    top_pattern: str
    pattern_scale: float
    long_sleeves: bool
    bottom: Color
    bottom_style: str
    shoes: Color
    backpack: Color | None
    hat: Color | None
    height_m: float
    build: float

    def as_vector(self) -> np.ndarray:
        """A numeric summary for comparing identities.

        Returns:
            Float64 vector, shape (31,): eight colours (BGR, 0-255; an absent backpack or cap
            as -255), pattern index, hair style index, bottom style index, long sleeves (0/1),
            pattern scale x 1000, height in cm, build x 100.
        """
        absent: Color = (-255, -255, -255)
        colours = [
            self.skin,
            self.hair,
            self.top,
            self.top_secondary,
            self.bottom,
            self.shoes,
            self.backpack if self.backpack is not None else absent,
            self.hat if self.hat is not None else absent,
        ]
        flags = [
            TOP_PATTERNS.index(self.top_pattern),
            ("short", "long", "bald").index(self.hair_style),
            ("trousers", "shorts", "skirt").index(self.bottom_style),
            float(self.long_sleeves),
        ]
        scalars = [self.pattern_scale * 1000.0, self.height_m * 100.0, self.build * 100.0]
        return np.asarray([c for col in colours for c in col] + flags + scalars, dtype=np.float64)

    def to_dict(self) -> dict:
        """JSON-ready dictionary of all fields (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def appearance_distance(a: Appearance, b: Appearance) -> float:
    """Euclidean distance between the :meth:`Appearance.as_vector` summaries of two looks."""
    return float(np.linalg.norm(a.as_vector() - b.as_vector()))


def _jitter(color: Color, rng: np.random.Generator, amount: float = 14.0) -> Color:
    """A shade of ``color``: common brightness change plus a small per-channel offset."""
    gain = rng.uniform(0.88, 1.12)
    offset = rng.normal(0.0, amount / 2.0, size=3)
    values = np.clip(np.asarray(color, float) * gain + offset, 0, 255)
    return (int(values[0]), int(values[1]), int(values[2]))


def _pick(palette: tuple[Color, ...], rng: np.random.Generator) -> Color:
    return palette[int(rng.integers(len(palette)))]


def _contrasting(color: Color, rng: np.random.Generator) -> Color:
    """A palette colour clearly different from ``color`` (for patterns that must show)."""
    for _ in range(16):
        other = _pick(_TOPS, rng)
        if np.abs(np.subtract(other, color)).sum() > 150:
            return other
    return (255 - color[0], 255 - color[1], 255 - color[2])


def sample_appearance(rng: np.random.Generator) -> Appearance:
    """Draws a new identity's look.

    Args:
        rng: Random generator; the only source of randomness, so a seed fixes the result.

    Returns:
        An :class:`Appearance` with palette colours jittered to this person.
    """
    top = _jitter(_pick(_TOPS, rng), rng)
    pattern = TOP_PATTERNS[int(rng.choice(len(TOP_PATTERNS), p=_TOP_PATTERN_P))]
    bottom_style = ("trousers", "shorts", "skirt")[int(rng.choice(3, p=(0.72, 0.16, 0.12)))]
    return Appearance(
        skin=_jitter(_pick(_SKIN, rng), rng, 8.0),
        hair=_jitter(_pick(_HAIR, rng), rng, 8.0),
        hair_style=("short", "long", "bald")[int(rng.choice(3, p=(0.6, 0.3, 0.1)))],
        top=top,
        top_secondary=_jitter(_contrasting(top, rng), rng),
        top_pattern=pattern,
        pattern_scale=float(rng.uniform(0.035, 0.07)),
        long_sleeves=bool(rng.random() < 0.6),
        bottom=_jitter(_pick(_BOTTOMS, rng), rng),
        bottom_style=bottom_style,
        shoes=_jitter(_pick(_SHOES, rng), rng, 6.0),
        backpack=_jitter(_pick(_ACCESSORY, rng), rng) if rng.random() < 0.25 else None,
        hat=_jitter(_pick(_ACCESSORY, rng), rng) if rng.random() < 0.15 else None,
        height_m=float(np.clip(rng.normal(1.72, 0.09), 1.5, 1.98)),
        build=float(rng.uniform(0.88, 1.15)),
    )


def sample_lookalike(base: Appearance, rng: np.random.Generator) -> Appearance:
    """A different person dressed almost like ``base``.

    Keeps the clothing colours (a barely visible re-shade) and changes one or two small
    details: torso pattern (e.g. a logo only seen from the front), a backpack, the haircut or
    hair colour, a cap, shoes, or height and build.

    Args:
        base: The identity to imitate.
        rng: Random generator.

    Returns:
        A new :class:`Appearance` close to ``base`` but not equal to it.
    """
    details = ("pattern", "backpack", "hair", "hat", "shoes", "body")
    chosen = rng.choice(len(details), size=int(rng.integers(1, 3)), replace=False)
    changes: dict = {
        "top": _jitter(base.top, rng, 6.0),
        "bottom": _jitter(base.bottom, rng, 6.0),
        "skin": _jitter(base.skin, rng, 6.0),
    }
    for index in chosen:
        detail = details[int(index)]
        if detail == "pattern":
            options = [p for p in TOP_PATTERNS if p != base.top_pattern]
            changes["top_pattern"] = options[int(rng.integers(len(options)))]
        elif detail == "backpack":
            changes["backpack"] = (
                None if base.backpack is not None else _jitter(_pick(_ACCESSORY, rng), rng)
            )
        elif detail == "hair":
            changes["hair"] = _jitter(_pick(_HAIR, rng), rng, 8.0)
            changes["hair_style"] = ("short", "long", "bald")[int(rng.integers(3))]
        elif detail == "hat":
            changes["hat"] = None if base.hat is not None else _jitter(_pick(_ACCESSORY, rng), rng)
        elif detail == "shoes":
            changes["shoes"] = _jitter(_pick(_SHOES, rng), rng, 6.0)
        else:
            changes["height_m"] = float(np.clip(base.height_m + rng.choice((-1, 1)) * 0.06, 1.5, 2))
            changes["build"] = float(np.clip(base.build + rng.normal(0, 0.08), 0.85, 1.2))
    return replace(base, **changes)


class IdentitySampler:
    """Hands out new identities, a share of them look-alikes of people already handed out.

    Look-alikes copy one of the ``recent`` identities, so that similar people share a scene
    (in a tracking sequence) or a camera set (in the Re-ID split).

    Args:
        rng: Random generator.
        lookalike_prob: Chance that a new identity imitates a recent one.
        recent: How many of the latest identities a look-alike may imitate.
    """

    def __init__(
        self, rng: np.random.Generator, lookalike_prob: float = 0.3, recent: int = 6
    ) -> None:
        if not 0.0 <= lookalike_prob <= 1.0:
            raise ValueError(f"lookalike_prob must lie in [0, 1], got {lookalike_prob}")
        self.rng = rng
        self.lookalike_prob = lookalike_prob
        self.recent = recent
        self.issued: list[Appearance] = []
        #: For each issued identity, the index of the identity it imitates (or -1).
        self.lookalike_of: list[int] = []

    def new(self, imitate: int | None = None) -> Appearance:
        """Issues the next identity.

        Args:
            imitate: Index (into :attr:`issued`) of an identity to imitate on purpose; ``None``
                lets the sampler decide with ``lookalike_prob``.

        Returns:
            The new identity's :class:`Appearance`; its index is ``len(issued) - 1``.
        """
        if imitate is None and self.issued and self.rng.random() < self.lookalike_prob:
            low = max(0, len(self.issued) - self.recent)
            imitate = int(self.rng.integers(low, len(self.issued)))
        if imitate is None:
            look = sample_appearance(self.rng)
            self.lookalike_of.append(-1)
        else:
            look = sample_lookalike(self.issued[imitate], self.rng)
            self.lookalike_of.append(imitate)
        self.issued.append(look)
        return look
