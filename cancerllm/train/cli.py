"""CLI commands of the train stage: thin shells over this package's functions."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="train stage")
