"""`passerelle search` and `passerelle serve`, registered the way the root CLI registers sub-apps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from passerelle.bench.server import free_port
from passerelle.commands import search as search_cmd
from passerelle.commands import serve as serve_cmd

QUERY = "How long is the bread dough left to rise in the cold at a bakery in Lyon?"


def _root() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(search_cmd.app, name="search")
    root.add_typer(serve_cmd.app, name="serve")

    @root.callback()
    def _main() -> None:
        """Root."""

    return root


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.slow
def test_search_table_with_explain(runner: CliRunner, sample_index: Path) -> None:
    result = runner.invoke(
        _root(), ["search", QUERY, "--index", str(sample_index), "-k", "3", "--explain"], env={"COLUMNS": "160"}
    )
    assert result.exit_code == 0, result.output
    assert "fr-001" in result.output and "sample · hybrid · query language en" in result.output
    explain = [line for line in result.output.splitlines() if line.startswith("fr-001: ")]
    assert explain and "×" in explain[0] and "[dense]" in explain[0]  # the service default: weighted, normalized
    rrf = runner.invoke(
        _root(),
        ["search", QUERY, "--index", str(sample_index), "-k", "3", "--explain", "--fusion", "rrf"],
        env={"COLUMNS": "160"},
    )
    assert rrf.exit_code == 0, rrf.output
    explain = [line for line in rrf.output.splitlines() if line.startswith("fr-001: ")]
    assert explain and "1/(60+" in explain[0] and "[dense]" in explain[0]


@pytest.mark.slow
def test_search_json_is_the_api_response(runner: CliRunner, sample_index: Path) -> None:
    result = runner.invoke(
        _root(),
        ["search", QUERY, "--index", str(sample_index), "--mode", "dense", "-k", "2", "--doc-lang", "fr", "--json"],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["index"] == "sample" and body["mode"] == "dense"
    assert [hit["id"] for hit in body["hits"]][0] == "fr-001"
    assert {hit["lang"] for hit in body["hits"]} == {"fr"}


@pytest.mark.slow
def test_search_filters_pages_and_shows_metadata(runner: CliRunner, sample_index: Path) -> None:
    base = ["search", "how do glaciers melt", "--index", str(sample_index), "-k", "2", "--json"]
    filters = ["--filter", "year>=2020", "--filter", "topic in climate,nature", "--fields", "metadata"]
    pages = [runner.invoke(_root(), [*base, *filters, "--offset", offset]) for offset in ("0", "2")]
    whole = runner.invoke(_root(), [*base, *filters, "-k", "4"])
    assert all(r.exit_code == 0 for r in (*pages, whole)), [r.output for r in (*pages, whole)]
    bodies = [json.loads(r.output) for r in pages]
    assert [h["id"] for b in bodies for h in b["hits"]] == [h["id"] for h in json.loads(whole.output)["hits"]]
    assert bodies[0]["filter_matches"] == 5 and bodies[1]["offset"] == 2
    for hit in (h for b in bodies for h in b["hits"]):
        assert hit["metadata"]["year"] >= 2020 and hit["metadata"]["topic"] in ("climate", "nature")
    table = runner.invoke(_root(), [*base[:-1], *filters, "--fields", "lang,title,metadata"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "5 documents match the filter" in table.output
    assert "year: 202" in table.output and "more hits follow: --offset 2" in table.output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("year>=soon", "--filter[0]: 'year' is int: expected an integer, got 'soon'"),
        ("journal=X", "unknown field 'journal'; this index can be filtered on lang (keyword), topic (keyword)"),
        ("year 2015", "cannot read 'year 2015'"),
    ],
)
def test_search_names_a_bad_filter(runner: CliRunner, sample_index: Path, condition: str, message: str) -> None:
    result = runner.invoke(_root(), ["search", "bees", "--index", str(sample_index), "--filter", condition])
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "semantic"], "--mode"),
        (["--lang", "english"], "--lang"),
        (["--weight", "dense"], "--weight 'dense'"),
        (["--weight", "bm25=1"], "--weight"),
        (["-k", "0"], "--k"),
        (["--fields", "body"], "--fields"),
        (["--filter", "year"], "--filter[0]"),
    ],
)
def test_search_refuses_bad_options_before_loading(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(_root(), ["search", "bees", "--index", str(tmp_path / "missing"), *args])
    assert result.exit_code == 2
    assert message in result.output


def test_search_missing_index(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(_root(), ["search", "bees", "--index", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "error:" in result.output


def test_parse_weights() -> None:
    assert search_cmd.parse_weights(["dense=0.7", " sparse =0.3"]) == {"dense": 0.7, "sparse": 0.3}
    assert search_cmd.parse_weights([]) is None


def test_serve_settings_merge_config_env_and_flags(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PASSERELLE_CONFIG", raising=False)
    monkeypatch.setenv("PASSERELLE_SERVICE__MAX_K", "70")
    monkeypatch.setenv("PASSERELLE_SERVICE__PORT", "9100")
    _, service = serve_cmd.service_settings(indexes=[tmp_path / "idx"], port=9200, host=None, cors_origins=[])
    assert (service.max_k, service.port, service.host, service.indexes) == (70, 9200, "127.0.0.1", [tmp_path / "idx"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no index to serve"),
        (["--index", "{missing}"], "not an index directory"),
        (["--index", "{index}", "--api-key", "short"], "api_key"),
        (["--index", "{index}", "--port", "0"], "port"),
        (["--index", "{index}", "--cors-origin", "*"], "cors_origins"),
    ],
)
def test_serve_refuses(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], message: str
) -> None:
    monkeypatch.delenv("PASSERELLE_CONFIG", raising=False)
    monkeypatch.delenv("PASSERELLE_SERVICE__INDEXES", raising=False)
    index = tmp_path / "idx"
    index.mkdir()
    (index / "manifest.json").write_text("{}", encoding="utf-8")  # only checked for presence before startup
    args = [a.format(missing=tmp_path / "missing", index=index) for a in args]
    result = runner.invoke(_root(), ["serve", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.slow
def test_serve_runs_a_real_server_and_stops_on_sigterm(sample_index: Path) -> None:
    port = free_port()
    key = "serve-test-admin-key-42"
    code = (
        "import sys, typer; from passerelle.commands import serve\n"
        "root = typer.Typer(); root.add_typer(serve.app, name='serve')\n"
        "@root.callback()\ndef _r(): pass\nroot()"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSERELLE_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "serve",
            "--index",
            str(sample_index),
            "--port",
            str(port),
            "--api-key",
            key,
            "--no-access-log",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()[0]
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not become ready"
            time.sleep(0.2)
        hits = httpx.post(f"{url}/v1/search", json={"query": QUERY, "k": 3}, timeout=30).json()["hits"]
        assert "fr-001" in [hit["id"] for hit in hits]
        reload = httpx.post(f"{url}/v1/admin/reload", headers={"X-API-Key": key}, timeout=60)
        assert reload.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    # uvicorn drains and runs the lifespan shutdown, then re-raises SIGTERM (exit by signal 15). A JVM
    # that kept its own SIGTERM handler would instead exit(143) at once, skipping all of this.
    assert "Application shutdown complete" in output, output
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output
