"""Lucene filter keys: every document of every view gets its key at build and add time, BM25 restricted by
keys (allowed or excluded) finds exactly the allowed documents' top hits, and views without keys (indexes
built before them) give the same documents by searching deeper."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from passerelle.indexing.build import build_index
from passerelle.indexing.manifest import read_manifest
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.sparse.keys import SparseFilter, doc_key, doc_keys
from passerelle.indexing.sparse.lucene import LuceneView
from passerelle.indexing.update import add_documents, delete_documents

pytestmark = pytest.mark.slow
QUERY = "strike of the train drivers and conductors"


def _filter(ids: list[str], allowed: set[str], *, exclude: bool) -> SparseFilter:
    chosen = [d for d in ids if (d not in allowed) == exclude]
    return SparseFilter(doc_keys(chosen), exclude=exclude, allows=allowed.__contains__)


def _every(view: LuceneView, query: str) -> list[tuple[str, float]]:
    return view.search(query, view.num_docs)


def test_keys_are_stable_signed_64_bit_numbers() -> None:
    assert doc_key("fr-001") == doc_key("fr-001") != doc_key("fr-002")
    assert -(2**63) <= doc_key("x") < 2**63
    assert doc_keys(["a", "b"]).dtype == np.int64


@pytest.mark.parametrize("exclude", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_keyed_bm25_is_the_top_of_the_allowed_documents(filter_index: Path, exclude: bool, seed: int) -> None:
    assert read_manifest(filter_index).sparse_keys
    view = LuceneView(filter_index / "sparse" / "en", "en", keyed=True)
    try:
        every = _every(view, QUERY)
        ids = [doc_id for doc_id, _ in every]
        allowed = set(random.Random(seed).sample(ids, len(ids) // 5))
        got = view.search(QUERY, 10, within=_filter(ids, allowed, exclude=exclude))
        want = [hit for hit in every if hit[0] in allowed][:10]
        assert [d for d, _ in got] == [d for d, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-4)
    finally:
        view.close()


def test_views_without_keys_search_deeper_and_find_the_same_documents(filter_index: Path) -> None:
    keyed = LuceneView(filter_index / "sparse" / "en", "en", keyed=True)
    plain = LuceneView(filter_index / "sparse" / "en", "en", keyed=False)
    try:
        ids = [doc_id for doc_id, _ in _every(keyed, QUERY)]
        allowed = set(ids[-8:])  # the weakest matches: the plain view must search to the end to find them
        within = _filter(ids, allowed, exclude=False)
        assert [d for d, _ in plain.search(QUERY, 5, within=within)] == [
            d for d, _ in keyed.search(QUERY, 5, within=within)
        ]
        assert plain.search(QUERY, 5, within=_filter(ids, set(), exclude=False)) == []
    finally:
        keyed.close()
        plain.close()


def test_added_documents_get_keys_and_deleted_ones_are_never_found(tmp_path: Path, filter_index: Path) -> None:
    index = tmp_path / "index"
    shutil.copytree(filter_index, index)
    extra = tmp_path / "extra.jsonl"
    text = "Train drivers strike again: conductors join the strike of the train drivers."
    extra.write_text(json.dumps({"id": "new-1", "lang": "en", "text": text, "year": 2030}) + "\n")
    manifest = add_documents(index, extra, BuildOptions(progress=False))
    assert manifest.sparse_keys and [f.spec for f in manifest.declared_fields][0] == "year:int"
    delete_documents(index, ["de-003~0"])
    view = LuceneView(index / "sparse" / "en", "en", keyed=True)
    try:
        ids = [doc_id for doc_id, _ in _every(view, QUERY)]
        assert "new-1" in ids and "de-003~0" not in ids
        only_new = view.search(QUERY, 10, within=_filter(ids, {"new-1"}, exclude=False))
        assert [d for d, _ in only_new] == ["new-1"]
        deleted = view.search(QUERY, 10, within=SparseFilter(doc_keys(["de-003~0"]), exclude=False, allows=bool))
        assert deleted == []
    finally:
        view.close()


def test_a_failed_build_writes_no_keys_and_leaves_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text('{"id": "a", "lang": "en", "text": "fine"}\n{"id": "b", "lang": "en", "text": 3}\n')
    with pytest.raises(Exception, match="text field must be a string"):
        build_index(corpus, tmp_path / "out", BuildOptions(dense=False, progress=False))
    assert not (tmp_path / "out").exists()
