"""`passerelle serve`: serve index directories over HTTP (FastAPI app run by uvicorn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Serve one or more index directories over HTTP.")


def service_settings(config: Path | None = None, **overrides: Any) -> Any:
    """The configured ``ServiceSettings`` with the command-line values that were given (not None) on top.

    Raises:
        ConfigError: a value is invalid (the message names the field), or no index is configured.
    """
    from pydantic import ValidationError

    from passerelle.indexing.errors import ConfigError
    from passerelle.service.api.settings import ServiceSettings
    from passerelle.settings import load_settings

    settings = load_settings(config)
    values = settings.service.model_dump()
    values.update({name: value for name, value in overrides.items() if value not in (None, [])})
    try:
        service = ServiceSettings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'service'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid service settings: {problems}") from exc
    if not service.indexes:
        raise ConfigError("no index to serve: pass --index DIR (or set PASSERELLE_SERVICE__INDEXES)")
    return settings.log_level, service


@app.callback(invoke_without_command=True)
def serve(
    index: list[Path] = typer.Option(  # noqa: B008
        None, "--index", help="Index directory, served under its directory name (repeatable; the first is the default)."
    ),
    host: str = typer.Option(None, "--host", help="Interface to bind (default 127.0.0.1: this machine only)."),
    port: int = typer.Option(None, "--port", help="Port (default 8000)."),
    api_key: str = typer.Option(
        None,
        "--api-key",
        help="Enables the admin routes (X-API-Key). Prefer PASSERELLE_SERVICE__API_KEY: "
        "command lines are visible to other users.",
    ),
    max_concurrency: int = typer.Option(
        None, "--max-concurrency", help="Hard bound on requests in flight; more get 503 (default 256)."
    ),
    cors_origin: list[str] = typer.Option(  # noqa: B008
        None, "--cors-origin", help="Allowed browser origin, e.g. https://app.example.org (repeatable)."
    ),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="Log every request."),
    config: Path = typer.Option(None, "--config", help="YAML or TOML settings file (see `config show`)."),
    engine: str = typer.Option(
        "local",
        "--engine",
        help="local (this process) | ray (Ray Serve: a deployment per shard, BM25 and the ingress; "
        "replicas from the service.ray settings; see docs/SCALING.md).",
    ),
    address: str = typer.Option(
        "local", "--address", help="Ray: local (start Ray here) | auto (join the cluster this node is in) | host:port."
    ),
) -> None:
    """Load the indexes, then answer searches until interrupted (Ctrl-C or SIGTERM stop it cleanly)."""
    from passerelle.commands.common import fail_on_error, offline_environment, setup_logging

    if engine not in ("local", "ray"):
        raise typer.BadParameter(f"--engine must be local or ray, got {engine!r}")

    offline_environment()
    with fail_on_error():
        log_level, service = service_settings(
            config,
            indexes=index,
            host=host,
            port=port,
            api_key=api_key,
            max_concurrency=max_concurrency,
            cors_origins=cors_origin,
        )
        for path in service.indexes:
            if not (path / "manifest.json").is_file():
                from passerelle.indexing.errors import IndexFormatError

                raise IndexFormatError(
                    f"{path} is not an index directory (no manifest.json); build one with `passerelle index build`"
                )
        setup_logging(log_level)
        if engine == "ray":
            from passerelle.service.api.ray_run import serve_on_ray

            serve_on_ray(service, address)
            return
        import uvicorn

        from passerelle.service.api.app import create_app
        from passerelle.service.api.connection import uvicorn_options

        uvicorn.run(
            create_app(service),
            host=service.host,
            port=service.port,
            log_config=None,
            log_level=log_level.lower(),
            access_log=access_log,
            lifespan="on",
            **uvicorn_options(service),
        )
