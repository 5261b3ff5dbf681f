"""Hooks of mmdistillmot (registered in mmdet's HOOKS)."""

from mmdistillmot.engine.hooks.distill_hook import DistillHook
from mmdistillmot.engine.hooks.exact_resume_hook import ExactResumeHook

__all__ = ["DistillHook", "ExactResumeHook"]
