"""Utilities: config checks."""

from mmdistillmot.utils.config_check import ConfigTypeError, check_config_types

__all__ = ["ConfigTypeError", "check_config_types"]
