"""`passerelle config`: show the effective configuration."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Inspect the configuration (env vars PASSERELLE_*, optional YAML/TOML file).", no_args_is_help=True
)


@app.command("show")
def show(
    config: Path | None = typer.Option(None, "--config", help="YAML or TOML config file (else PASSERELLE_CONFIG)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML."),
) -> None:
    """Print the settings in effect: defaults, then the config file, then PASSERELLE_* variables.

    Secrets (the admin API key) are masked.
    """
    import json

    import yaml

    from passerelle.commands.common import fail_on_error
    from passerelle.settings import load_settings

    with fail_on_error():
        settings = load_settings(config)
    data = json.loads(settings.model_dump_json())
    typer.echo(json.dumps(data, indent=2) if as_json else yaml.safe_dump(data, sort_keys=False).rstrip())
