"""CLI commands of the serve stage: thin shells over this package's functions."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="serve stage")


def register(main_app: typer.Typer) -> None:
    """Add the user-facing inference commands (extract, diagnose, plan, predict, serve) to the main CLI."""
    main_app.add_typer(app, name="serving", hidden=True)
