"""Help pages as the operator reads them: a flag shows no `<bool>` (Typer's rich help prints one for every bool)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup


def _flags_untyped(command: Any, ctx: Any) -> None:
    """A flag takes no value: its help shows no `<bool>` (Typer's rich help prints one for every bool)."""
    for param in [*command.params, command.get_help_option(ctx)]:
        if param is not None and getattr(param, "is_flag", False):
            param.metavar = ""


class Command(TyperCommand):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        _flags_untyped(self, ctx)
        super().format_help(ctx, formatter)


class Group(TyperGroup):
    def format_help(self, ctx: Any, formatter: Any) -> None:
        _flags_untyped(self, ctx)
        super().format_help(ctx, formatter)
