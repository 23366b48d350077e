"""The container setup: ``Dockerfile``, ``docker-compose.yml`` and ``.dockerignore``, read as text.

No Docker daemon is needed. The compose file is parsed with PyYAML and its structure checked; each
command a service runs is resolved against the real ``passerelle`` CLI (the command plus ``--help``
through typer's test runner: an unknown command or option exits 2, a real one 0).
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
PORT = 8000


def _instructions(path: Path) -> list[tuple[str, str]]:
    """Dockerfile instructions as (KEYWORD, arguments), continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def _volumes(service: dict[str, Any]) -> list[dict[str, Any]]:
    """A service's volumes in long syntax, whichever syntax the file uses."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts.append(volume)
            continue
        source, target, *mode = volume.split(":")
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        mounts.append(
            {"type": kind, "source": source, "target": target, "read_only": bool(mode) and "ro" in mode[0].split(",")}
        )
    return mounts


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return _instructions(ROOT / "Dockerfile")


@pytest.fixture(scope="module")
def final_stage(dockerfile: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(i for i, (keyword, _) in enumerate(dockerfile) if keyword == "FROM")
    return dockerfile[last_from:]


# --- docker-compose.yml ------------------------------------------------------------------------------


def _default(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services `docker compose up` starts (no profile)."""
    return {name: service for name, service in services.items() if not service.get("profiles")}


def test_two_services_built_from_this_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    assert set(_default(services)) == {"indexer", "api"}
    for service in services.values():
        assert service["build"]["context"] == "."
        assert (ROOT / service["build"].get("dockerfile", "Dockerfile")).is_file()
    for service in _default(services).values():
        assert "entrypoint" not in service, "commands rely on the image's `passerelle` entrypoint"
    assert services["indexer"]["image"] == services["api"]["image"]


def test_services_share_the_named_indexes_volume(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    assert "indexes" in compose["volumes"]
    for service in services.values():
        assert {"type": "volume", "source": "indexes", "target": "/indexes"}.items() <= next(
            m for m in _volumes(service) if m["source"] == "indexes"
        ).items()


def test_corpus_is_mounted_read_only_and_exists(services: dict[str, dict[str, Any]]) -> None:
    indexer = services["indexer"]
    corpus = _option(indexer["command"], "--corpus")
    binds = [m for m in _volumes(indexer) if m["type"] == "bind"]
    mount = next(m for m in binds if corpus.startswith(m["target"].rstrip("/") + "/"))
    assert mount["read_only"] is True
    host_path = ROOT / mount["source"] / corpus[len(mount["target"]) :].lstrip("/")
    assert host_path.resolve() == (ROOT / "data" / "sample" / "corpus.jsonl").resolve()
    assert host_path.is_file()
    assert all(m["read_only"] for m in binds)


def test_indexer_is_one_shot_and_api_waits_for_it(services: dict[str, dict[str, Any]]) -> None:
    assert services["indexer"].get("restart", "no") == "no"
    assert services["api"]["depends_on"] == {"indexer": {"condition": "service_completed_successfully"}}


def test_api_serves_what_the_indexer_writes(services: dict[str, dict[str, Any]]) -> None:
    out = _option(services["indexer"]["command"], "--out")
    assert _option(services["api"]["command"], "--index") == out
    assert out.startswith("/indexes/")


def test_api_listens_on_all_interfaces_at_the_published_port(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    assert _option(api["command"], "--host") == "0.0.0.0"
    assert _option(api["command"], "--port") == str(PORT)
    assert f"{PORT}:{PORT}" in [str(port) for port in api["ports"]]


def test_api_healthcheck_probes_healthz(services: dict[str, dict[str, Any]]) -> None:
    check = services["api"]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    assert f"127.0.0.1:{PORT}/healthz" in " ".join(check["test"])
    assert check["retries"] >= 1 and "interval" in check and "timeout" in check


@pytest.mark.parametrize("service", ["indexer", "api", "indexer-sharded"])
def test_service_command_is_a_real_passerelle_command(services: dict[str, dict[str, Any]], service: str) -> None:
    from passerelle.cli import app

    command = [str(arg) for arg in services[service]["command"]]
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, f"`passerelle {shlex.join(command)}` is not accepted:\n{result.output}"


# --- profile `cluster`: a Ray head, N workers and an ingress node, on the index volume -----------------

CLUSTER = ("indexer-sharded", "ray-head", "ray-worker", "ingress")


def _ray_start_accepts(args: list[str]) -> None:
    """``ray start ARGS`` is accepted by the installed Ray's CLI (its --help exits 0)."""
    pytest.importorskip("ray")
    from click.testing import CliRunner as ClickRunner
    from ray.scripts.scripts import cli

    assert args[0] == "start"
    result = ClickRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, f"`ray {shlex.join(args)}` is not accepted:\n{result.output}"


def test_cluster_profile_runs_the_ray_image(services: dict[str, dict[str, Any]]) -> None:
    cluster = {name for name, service in services.items() if "cluster" in service.get("profiles", [])}
    assert cluster == set(CLUSTER)
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    for name in CLUSTER:
        service = services[name]
        extra = service["build"]["args"]["EXTRAS"]
        assert extra == "[ray]" and any(dep.startswith("ray[serve]") for dep in extras["ray"])
        assert service["image"] == services["ray-head"]["image"] != services["api"]["image"]
        assert service.get("shm_size"), "Ray's object store needs a /dev/shm larger than Docker's 64 MB"


def test_dockerfile_installs_the_extras_it_is_given(dockerfile: list[tuple[str, str]]) -> None:
    assert ("ARG", "EXTRAS=") in dockerfile
    installs = [args for keyword, args in dockerfile if keyword == "RUN" and "pip install" in args]
    assert any('".${EXTRAS}"' in args for args in installs)


def test_ray_head_and_workers_form_one_cluster(services: dict[str, dict[str, Any]]) -> None:
    head, worker = services["ray-head"], services["ray-worker"]
    assert head["entrypoint"] == worker["entrypoint"] == ["ray"]
    port = next(arg.split("=")[1] for arg in head["command"] if arg.startswith("--port="))
    assert {"start", "--head", "--block"} <= set(head["command"])
    assert "--block" in worker["command"] and f"--address=ray-head:{port}" in worker["command"]
    assert worker["deploy"]["replicas"] >= 2
    _ray_start_accepts(head["command"])
    _ray_start_accepts(worker["command"])


def test_cluster_ingress_serves_the_sharded_index_on_ray(services: dict[str, dict[str, Any]]) -> None:
    from passerelle.cli import app

    ingress, indexer = services["ingress"], services["indexer-sharded"]
    assert ingress["entrypoint"] == ["sh", "-c"]
    start, serve = (shlex.split(part) for part in ingress["command"][0].split("&&"))
    port = next(arg.split("=")[1] for arg in services["ray-head"]["command"] if arg.startswith("--port="))
    assert start[:2] == ["ray", "start"] and f"--address=ray-head:{port}" in start
    _ray_start_accepts(start[1:])
    assert serve[:3] == ["exec", "passerelle", "serve"]
    command = serve[2:]
    assert _option(command, "--engine") == "ray" and _option(command, "--address") == "auto"
    assert _option(command, "--index") == _option(indexer["command"], "--out")
    assert int(_option(indexer["command"], "--shards")) >= 2
    assert _option(command, "--host") == "0.0.0.0" and f":{_option(command, '--port')}" in ingress["ports"][0]
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert ingress["depends_on"]["indexer-sharded"] == {"condition": "service_completed_successfully"}
    assert "/readyz" in " ".join(ingress["healthcheck"]["test"])
    assert not set(ingress["ports"]) & set(services["api"]["ports"]), "both profiles can run at once"


def test_console_script_runs_the_cli_app() -> None:
    from passerelle import cli

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["passerelle"] == "passerelle.cli:main"
    assert callable(cli.main) and cli.app is not None


# --- Dockerfile ----------------------------------------------------------------------------------------


def test_every_stage_is_python_3_11(dockerfile: list[tuple[str, str]]) -> None:
    images = [args.split()[0] for keyword, args in dockerfile if keyword == "FROM"]
    assert images and all(image.startswith("python:3.11") for image in images), images


def test_install_uses_the_constraints_file(dockerfile: list[tuple[str, str]]) -> None:
    installs = [args for keyword, args in dockerfile if keyword == "RUN" and "pip install" in args]
    assert installs
    for args in installs:
        assert "-c constraints.txt" in args or "--constraint constraints.txt" in args, args
    copied = [shlex.split(args)[:-1] for keyword, args in dockerfile if keyword == "COPY"]
    assert any("constraints.txt" in sources for sources in copied)


def test_runtime_environment_is_offline_and_unprivileged(final_stage: list[tuple[str, str]]) -> None:
    env: dict[str, str] = {}
    for keyword, args in final_stage:
        if keyword == "ENV":
            for token in shlex.split(args):
                key, _, value = token.partition("=")
                env[key] = value
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["ORT_DISABLE_TELEMETRY"] == "1"
    users = [args for keyword, args in final_stage if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_runtime_exposes_the_port_and_runs_passerelle(final_stage: list[tuple[str, str]]) -> None:
    exposed = [port for keyword, args in final_stage if keyword == "EXPOSE" for port in args.split()]
    assert str(PORT) in exposed
    entrypoints = [json.loads(args) for keyword, args in final_stage if keyword == "ENTRYPOINT"]
    assert entrypoints[-1] == ["passerelle"]


def test_copied_sources_exist_and_are_not_docker_ignored(dockerfile: list[tuple[str, str]]) -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in ignored), "negations are not handled by this check"
    sources = [
        src.rstrip("/")
        for keyword, args in dockerfile
        if keyword == "COPY" and not args.startswith("--from")
        for src in shlex.split(args)[:-1]
    ]
    for source in sources:
        if not any(ch in source for ch in "*?["):
            assert (ROOT / source).exists(), f"COPY {source}: missing from the build context"
        hits = [p for p in ignored if fnmatch.fnmatch(source, p) or fnmatch.fnmatch(source.split("/")[0], p)]
        assert not hits, f"COPY {source} is excluded by .dockerignore {hits}"


def test_every_installed_package_folder_is_copied(dockerfile: list[tuple[str, str]]) -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = {path.split("/")[0] for path in setuptools["package-dir"].values()}
    copied = {
        src.rstrip("/")
        for keyword, args in dockerfile
        if keyword == "COPY" and not args.startswith("--from")
        for src in shlex.split(args)[:-1]
    }
    assert folders <= copied, f"not copied into the image: {sorted(folders - copied)}"
    assert {"pyproject.toml", "constraints.txt"} <= copied
