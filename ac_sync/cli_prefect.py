"""`ac-sync` commands that set up Prefect for scheduled runs (credentials blocks, pools, limits, alerts)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `ac-sync` app."""
