"""`passerelle config`: show the effective configuration."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inspect the configuration (env vars PASSERELLE_*, optional YAML/TOML file).",
                  no_args_is_help=True)
