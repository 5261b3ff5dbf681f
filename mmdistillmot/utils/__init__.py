"""Utilities: config checks, one-line errors for the command-line tools."""

from mmdistillmot.utils.cli_errors import (
    CLI_ERRORS,
    add_debug_flag,
    cli_error_status,
    cli_errors,
    format_cli_error,
    one_line,
)
from mmdistillmot.utils.config_check import ConfigTypeError, check_config_types

__all__ = [
    "CLI_ERRORS",
    "ConfigTypeError",
    "add_debug_flag",
    "check_config_types",
    "cli_error_status",
    "cli_errors",
    "format_cli_error",
    "one_line",
]
