"""Hooks of mmdistillmot (registered in mmdet's HOOKS)."""

from mmdistillmot.engine.hooks.distill_hook import DistillHook

__all__ = ["DistillHook"]
