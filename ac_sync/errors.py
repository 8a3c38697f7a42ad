"""Errors of usage and configuration: a clear one-line message, exit code 2, never a traceback."""


class ConfigError(Exception):
    """Missing or invalid settings, flags or credentials source."""
