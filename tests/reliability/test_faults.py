"""Injected faults: a process killed mid-write, damaged index files, a reload onto a damaged index.

Each fault must leave the published index intact and loadable, be refused with a message that names the
damaged file, or leave the copy in service answering. (SIGKILL during ``index build``:
``tests/indexing/test_kill.py``; the JVM failing to start: ``test_jvm_failure.py``.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from support import kill_while_staging, repeated_sample
from support.reliability import reliability_settings
from support.server import API_KEY

from passerelle.indexing.errors import IndexFormatError
from passerelle.indexing.load import load_index
from passerelle.indexing.update import add_documents

pytestmark = pytest.mark.slow

DOCS, FR_DOCS = 40, 16  # data/sample: 40 documents, 16 of them French


def _copy(index: Path, tmp_path: Path, name: str = "idx") -> Path:
    target = tmp_path / name
    shutil.copytree(index, target)
    return target


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    """Same size, different bytes: 64 bytes inverted in the middle of the file."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + 64, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _files(index: Path) -> dict[str, str]:
    """One file of each store, by role (Lucene file names vary with the segment)."""
    names = sorted(json.loads((index / "manifest.json").read_text())["files"])
    return {
        "docstore": "docs.sqlite",
        "faiss": "dense/index.faiss",
        "rows": "dense/rows.tsv",
        "lucene-segments": next(n for n in names if n.startswith("sparse/fr/segments_")),
        "lucene-terms": next(n for n in names if n.startswith("sparse/fr/") and n.endswith(".tim")),
    }


ROLES = ["docstore", "faiss", "rows", "lucene-segments", "lucene-terms"]


@pytest.mark.parametrize("role", ROLES)
def test_truncated_file_is_refused_at_load(sample_usem3_index: Path, tmp_path: Path, role: str) -> None:
    index = _copy(sample_usem3_index, tmp_path)
    rel = _files(index)[role]
    _truncate(index / rel)
    with pytest.raises(IndexFormatError, match=rf"{rel} has \d+ bytes, manifest says \d+ \(truncated\?\)"):
        load_index(index)  # the default check (sizes) is enough


@pytest.mark.parametrize("role", ROLES)
def test_same_size_corruption_is_refused_by_full_verification(
    sample_usem3_index: Path, tmp_path: Path, role: str
) -> None:
    index = _copy(sample_usem3_index, tmp_path)
    rel = _files(index)[role]
    _flip(index / rel)
    with pytest.raises(IndexFormatError, match=f"checksum mismatch for {rel}"):
        load_index(index, verify="full")


@pytest.mark.parametrize("role", ["rows", "lucene-segments"])
def test_unreadable_store_is_an_index_error_not_a_crash(sample_usem3_index: Path, tmp_path: Path, role: str) -> None:
    index = _copy(sample_usem3_index, tmp_path)
    _flip(index / _files(index)[role])
    with pytest.raises(IndexFormatError, match="is damaged or unreadable .*verify=full"):
        load_index(index, verify="none")  # no check first: the store's own reader fails, cleanly


def _search(client: TestClient) -> list[str]:
    response = client.post("/v1/search", json={"query": "bees and honey", "mode": "hybrid", "k": 5})
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


# (file check of the app, damage, file, words of the refusal)
RELOAD_FAULTS = [
    ("size", _truncate, "faiss", "(truncated?)"),
    ("size", _flip, "rows", "is damaged or unreadable"),
    ("size", lambda path: path.unlink(), "lucene-terms", "is missing"),
    ("full", _flip, "docstore", "checksum mismatch for docs.sqlite"),
    ("full", _flip, "lucene-terms", "checksum mismatch for sparse/fr/"),
]


@pytest.mark.parametrize("verify", ["size", "full"])
def test_reload_onto_a_damaged_index_is_refused_and_the_old_copy_serves(
    sample_usem3_index: Path, tmp_path: Path, verify: str
) -> None:
    from passerelle.service.api.app import create_app

    index = _copy(sample_usem3_index, tmp_path, "sample")
    app = create_app(reliability_settings(index, verify=verify))
    admin = {"X-API-Key": API_KEY}
    faults = [fault for fault in RELOAD_FAULTS if fault[0] == verify]
    with TestClient(app) as client:
        before = _search(client)
        loaded_at = client.get("/v1/indexes").json()["indexes"][0]["loaded_at"]
        for _, damage, role, words in faults:
            target = index / _files(index)[role]
            good = target.read_bytes()
            damage(target)  # type: ignore[operator]
            refused = client.post("/v1/admin/reload", headers=admin, json={"index": "sample"})
            assert refused.status_code == 409, (role, refused.text)
            assert refused.json()["error"] == "ReloadError"
            detail = refused.json()["detail"]
            assert "previous copy keeps serving" in detail and words in detail, (role, detail)
            assert client.get("/v1/indexes").json()["indexes"][0]["loaded_at"] == loaded_at
            assert _search(client) == before, role  # the copy in service answers as before
            target.write_bytes(good)
        assert client.get("/readyz").json()["status"] == "ready"
        failed = f'passerelle_index_reloads_total{{index="sample",outcome="failed"}} {float(len(faults))}'
        assert failed in client.get("/metrics").text
        assert client.post("/v1/admin/reload", headers=admin).status_code == 200  # repaired: it goes through
        assert _search(client) == before


def test_sigkill_during_index_add_keeps_the_published_index(sample_usem3_index: Path, tmp_path: Path) -> None:
    index = _copy(sample_usem3_index, tmp_path)
    manifest_before = (index / "manifest.json").read_bytes()
    corpus = repeated_sample(
        tmp_path / "more.jsonl", copies=100, tag="added-"
    )  # 4000 documents: minutes of work, killed early
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "passerelle",
            "index",
            "add",
            "--index",
            str(index),
            "--corpus",
            str(corpus),
            "--batch-size",
            "16",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    kill_while_staging(proc, tmp_path, "add", poll_s=0.05)
    # the published index: same manifest, every file intact (sha256), loadable and complete
    assert (index / "manifest.json").read_bytes() == manifest_before
    loaded = load_index(index, verify="full")
    assert loaded.manifest.doc_count == DOCS and loaded.sparse["fr"].num_docs == FR_DOCS
    assert loaded.docstore.get("fr-001") is not None and loaded.docstore.get("fr-001-added-0") is None
    loaded.close()
    half = next(tmp_path.glob(".idx.tmp-*"))
    with pytest.raises(IndexFormatError, match="not a complete Passerelle index"):
        load_index(half)
    # the next change clears what the killed one left behind, and nothing was lost
    two = tmp_path / "two.jsonl"
    two.write_text("\n".join(corpus.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    manifest = add_documents(index, two)
    assert manifest.doc_count == DOCS + 2
    assert not list(tmp_path.glob(".idx.tmp-*"))
    loaded = load_index(index, verify="full")
    assert loaded.docstore.get("fr-001") is not None and loaded.docstore.get("fr-001-added-0") is not None
    loaded.close()
