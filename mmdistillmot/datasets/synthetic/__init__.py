"""The embedded synthetic MOT dataset: people-like figures a tracker must work to follow.

Entry point: :func:`generate_synthetic_mot` (the tool
``tools/dataset_converters/make_synthetic_mot.py`` is a thin command line over it). One concept
per module: ``appearance`` (who looks how), ``camera`` (ground-plane projection), ``motion``
(walking trajectories), ``scene`` (background, scenery, lighting, jitter), ``render`` (figures
and the owner map that gives visibility), ``sequence`` (frames and ground truth), ``detections``
(public detections), ``writer`` (MOTChallenge layout), ``reid`` (Market-1501-like split)
and ``generator`` (the whole dataset).
"""

from ..mot_cocovid import mot_split_to_cocovid, write_cocovid
from .appearance import Appearance, IdentitySampler, sample_appearance, sample_lookalike
from .camera import GroundCamera
from .detections import DetectionNoise, noisy_detections
from .generator import MANIFEST_NAME, SyntheticMOTConfig, generate_synthetic_mot
from .motion import MotionConfig, WalkerTrack, WalkingArea, simulate_walkers
from .reid import ReIDConfig, generate_reid_split
from .render import FigurePose, Sprite, draw_figure, measure_sprite, paste_sprite
from .scene import Occluder, Scene, sample_scene
from .sequence import Observation, render_frames

__all__ = [
    "MANIFEST_NAME",
    "Appearance",
    "DetectionNoise",
    "FigurePose",
    "GroundCamera",
    "IdentitySampler",
    "MotionConfig",
    "Observation",
    "Occluder",
    "ReIDConfig",
    "Scene",
    "Sprite",
    "SyntheticMOTConfig",
    "WalkerTrack",
    "WalkingArea",
    "draw_figure",
    "generate_reid_split",
    "generate_synthetic_mot",
    "measure_sprite",
    "mot_split_to_cocovid",
    "noisy_detections",
    "paste_sprite",
    "render_frames",
    "sample_appearance",
    "sample_lookalike",
    "sample_scene",
    "simulate_walkers",
    "write_cocovid",
]
