"""CLI commands of the robustness stage: thin shells over this package's functions."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="robustness stage")
