"""Command groups shared by several areas' CLI modules (each adds its own commands)."""

from __future__ import annotations

import typer

fetch_app = typer.Typer(help="Download data from public services into the store.", no_args_is_help=True)
import_app = typer.Typer(help="Register local data (manifests, NBIA folders, image/mask files) without network.", no_args_is_help=True)
radscore_app = typer.Typer(help="Fit and apply the LASSO-Cox Rad-score.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(fetch_app, name="fetch")
    app.add_typer(import_app, name="import")
    app.add_typer(radscore_app, name="radscore")
