"""The ``passerelle`` command line: thin commands over the Python APIs.

Each subcommand lives in ``passerelle.commands.<name>`` and imports its heavy dependencies inside the
command function, so ``passerelle --help`` stays instant (no JVM, no model load).
"""

from __future__ import annotations

import typer

from passerelle import __version__
from passerelle.commands import augment as augment_cmd
from passerelle.commands import bench as bench_cmd
from passerelle.commands import config as config_cmd
from passerelle.commands import eval as eval_cmd
from passerelle.commands import fusion as fusion_cmd
from passerelle.commands import index as index_cmd
from passerelle.commands import search as search_cmd
from passerelle.commands import serve as serve_cmd

app = typer.Typer(
    name="passerelle",
    help="Cross-lingual retrieval: index a corpus, serve it, search it, evaluate it, benchmark it.\n\n"
    "Exit codes: 0 success; 2 bad input or configuration (a one-line message names the file, line, field "
    "or option), as for a wrong option; 1 an unexpected failure (with its traceback).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(index_cmd.app, name="index")
app.add_typer(augment_cmd.app, name="augment")
app.command("serve", help="Serve one or more index directories over HTTP (uvicorn).")(serve_cmd.serve)
app.command("search")(search_cmd.search)
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(fusion_cmd.app, name="fusion")
app.add_typer(bench_cmd.app, name="bench")
app.add_typer(config_cmd.app, name="config")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"passerelle {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Cross-lingual retrieval service and evaluation toolkit."""


def main() -> None:
    """Console-script entry point."""
    app()
