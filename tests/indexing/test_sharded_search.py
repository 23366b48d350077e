"""Sharded indexes (built in process): layout, exact merged search against one index, docstore routing, HTTP."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import SAMPLE_DIR
from support.shards import MODES, SAMPLE_QUERIES, differences, ranked

from passerelle.indexing.errors import ConfigError, IndexFormatError
from passerelle.indexing.load import load_index
from passerelle.indexing.manifest import MANIFEST, sha256_file
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.shards.build import build_sharded
from passerelle.indexing.shards.layout import SHARDS_FILE, read_shards, shard_of
from passerelle.indexing.shards.load import merge_top_k

SAMPLE_IDS = [json.loads(line)["id"] for line in (SAMPLE_DIR / "corpus.jsonl").read_text().splitlines() if line]


@pytest.fixture(scope="module")
def sharded_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """data/sample in 2 shards, built in this process with the encoder of ``sample_usem3_index``."""
    out = tmp_path_factory.mktemp("sharded") / "sample-2"
    build_sharded(SAMPLE_DIR / "corpus.jsonl", out, BuildOptions(encoder="usem3", progress=False), shards=2)
    return out


def test_shard_of_is_the_documented_stable_hash() -> None:
    for doc_id in ("fr-001", "de-016", "é", ""):
        digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
        assert shard_of(doc_id, 7) == int.from_bytes(digest, "big") % 7
    # pinned values: changing the hash would send existing sharded indexes' lookups to the wrong shard
    assert [shard_of(i, 2) for i in ("fr-001", "fr-002", "de-001", "es-001")] == [1, 1, 0, 1]
    assert [shard_of(i, 7) for i in ("fr-001", "fr-002", "de-001", "es-001")] == [0, 6, 2, 0]
    assert shard_of("fr-001", 1) == 0


def test_merge_top_k_orders_by_score_then_doc_id() -> None:
    a = [("d", 0.9), ("b", 0.5), ("a", 0.1)]
    b = [("c", 0.9), ("e", 0.5)]
    assert merge_top_k([a, b], 3) == [("c", 0.9), ("d", 0.9), ("b", 0.5)]
    assert merge_top_k([a, b], 10) == [("c", 0.9), ("d", 0.9), ("b", 0.5), ("e", 0.5), ("a", 0.1)]
    assert merge_top_k([[], []], 5) == []


def test_layout_lists_every_shard_with_its_documents(sharded_index: Path) -> None:
    info = read_shards(sharded_index)
    assert [s.name for s in info.shards] == ["shard-00000", "shard-00001"]
    assert info.doc_count == sum(s.doc_count for s in info.shards) == 40
    assert info.encoder.name == "usem3" and info.faiss.kind == "flat"
    assert info.engine == {"name": "local"}
    expected = [sum(1 for i in SAMPLE_IDS if shard_of(i, 2) == n) for n in (0, 1)]
    assert [s.doc_count for s in info.shards] == expected
    for number, entry in enumerate(info.shards):
        shard = load_index(sharded_index / entry.path, sparse=False)
        assert {doc.id for doc in shard.docstore} == {i for i in SAMPLE_IDS if shard_of(i, 2) == number}
        assert entry.manifest_sha256 == sha256_file(sharded_index / entry.path / MANIFEST)
        shard.close()
    top = json.loads((sharded_index / MANIFEST).read_text())
    assert set(top["files"]) == {SHARDS_FILE, "shards/shard-00000/manifest.json", "shards/shard-00001/manifest.json"}
    assert top["doc_count"] == 40 and top["languages"] == {"de": 16, "es": 8, "fr": 16}
    assert top["sparse_docs"]["en"] == 40 and top["dense_rows"] == 40
    assert top["source"]["sharded"]["shards"] == 2
    assert not list(sharded_index.parent.glob(".sample-2.tmp-*"))


@pytest.mark.parametrize("mode", MODES)
def test_sharded_search_equals_one_index(sample_usem3_index: Path, sharded_index: Path, mode: str) -> None:
    single = ranked(sample_usem3_index, mode)
    assert all(single)  # every query finds something: the comparison is not vacuous
    assert differences(single, ranked(sharded_index, mode)) == []


def test_global_bm25_statistics_not_per_shard(sample_usem3_index: Path, sharded_index: Path) -> None:
    single, sharded = load_index(sample_usem3_index, dense=False), load_index(sharded_index, dense=False)
    try:
        query = SAMPLE_QUERIES[15]
        for lang in ("en", "fr", "de"):
            assert sharded.sparse[lang].search(query, 40) == single.sparse[lang].search(query, 40)
            assert sharded.sparse[lang].num_docs == single.sparse[lang].num_docs
            assert sharded.sparse[lang].term_coverage(query) == pytest.approx(single.sparse[lang].term_coverage(query))
        # a shard alone scores with its own idf and average length: not the same scores
        alone = load_index(sharded_index / "shards" / "shard-00000", dense=False)
        shard_hits = dict(alone.sparse["en"].search(query, 40))
        global_hits = dict(sharded.sparse["en"].search(query, 40))
        assert any(abs(score - global_hits[d]) > 1e-3 for d, score in shard_hits.items())
        alone.close()
    finally:
        single.close()
        sharded.close()


def test_docstore_and_rows_route_to_the_right_shard(sharded_index: Path) -> None:
    index = load_index(sharded_index, sparse=False)
    try:
        wanted = [*reversed(SAMPLE_IDS), "missing"]
        docs = index.docstore.get_many(wanted)
        assert list(docs) == list(reversed(SAMPLE_IDS))
        assert index.docstore.get("de-003").lang == "de" and index.docstore.get("missing") is None
        assert len(index.docstore) == 40 and index.docstore.language_counts() == {"de": 16, "es": 8, "fr": 16}
        dense = index.dense
        assert dense.live_count == 40 and len(dense.row_ids) == 40
        for doc_id in SAMPLE_IDS:
            assert dense.row_ids[dense.row_index[doc_id]] == doc_id
            assert dense.row_langs[dense.row_index[doc_id]] == doc_id.split("-")[0]
        assert "missing" not in dense.row_index
    finally:
        index.close()


def test_language_filter_matches_one_index(sample_usem3_index: Path, sharded_index: Path) -> None:
    single, sharded = load_index(sample_usem3_index, sparse=False), load_index(sharded_index, sparse=False)
    vectors = single.encoder.encode_queries(SAMPLE_QUERIES[:8])
    for langs in (frozenset({"de"}), frozenset({"fr", "es"})):
        want, got = single.dense.search(vectors, 5, langs), sharded.dense.search(vectors, 5, langs)
        assert [[d for d, _ in hits] for hits in want] == [[d for d, _ in hits] for hits in got]
    single.close()
    sharded.close()


def test_concurrent_searches_match_sequential_ones(sharded_index: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    index = load_index(sharded_index)
    try:
        queries = SAMPLE_QUERIES[:16]
        vectors = index.encoder.encode_queries(queries)
        want_sparse = [index.sparse["en"].search(q, 20) for q in queries]
        want_dense = index.dense.search(vectors, 20)
        with ThreadPoolExecutor(max_workers=4) as pool:
            got_sparse = list(pool.map(lambda q: index.sparse["en"].search(q, 20), queries * 4))
            got_dense = list(pool.map(lambda i: index.dense.search(vectors[i % 16], 20)[0], range(64)))
        assert got_sparse == want_sparse * 4
        assert got_dense == want_dense * 4
    finally:
        index.close()


def test_full_verification_names_a_tampered_shard(sharded_index: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(sharded_index, copy)
    manifest = copy / "shards" / "shard-00001" / MANIFEST
    manifest.write_text(manifest.read_text().replace('"doc_count": ', '"doc_count":  '))
    with pytest.raises(IndexFormatError, match="shard-00001/manifest.json"):
        load_index(copy, verify="full")


def test_more_shards_than_documents_leaves_empty_shards_searchable(tmp_path: Path) -> None:
    corpus = tmp_path / "two.jsonl"
    corpus.write_text("\n".join((SAMPLE_DIR / "corpus.jsonl").read_text().splitlines()[:2]) + "\n")
    build_sharded(corpus, tmp_path / "idx", BuildOptions(encoder="usem3", progress=False), shards=5)
    info = read_shards(tmp_path / "idx")
    assert sum(s.doc_count for s in info.shards) == 2 and sorted(s.doc_count for s in info.shards)[:3] == [0, 0, 0]
    hits = ranked(tmp_path / "idx", "hybrid", k=5, queries=["sourdough starter of a Lyon bakery"])
    assert {d for d, _ in hits[0]} <= {"fr-001", "fr-002"} and hits[0]


def test_invalid_shard_count_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--shards"):
        build_sharded(SAMPLE_DIR / "corpus.jsonl", tmp_path / "x", BuildOptions(progress=False), shards=0)
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def live_sharded(sharded_index: Path) -> Iterator[object]:
    from support.server import start_server, stop_server

    from passerelle.service.api.app import create_app
    from passerelle.service.api.settings import ServiceSettings

    server = start_server(create_app(ServiceSettings(indexes=[sharded_index])))
    yield server
    stop_server(server)


@pytest.mark.slow
def test_http_app_serves_a_sharded_index(live_sharded: object, sample_usem3_index: Path) -> None:
    query = SAMPLE_QUERIES[1]
    expected = ranked(sample_usem3_index, "hybrid", k=5, queries=[query])[0]
    with live_sharded.client() as http:  # type: ignore[attr-defined]
        assert http.get("/readyz").status_code == 200
        body = http.post("/v1/search", json={"query": query, "mode": "hybrid", "k": 5}).json()
        assert [(h["id"], round(h["score"], 5)) for h in body["hits"]] == [(d, round(s, 5)) for d, s in expected]
        assert http.get("/v1/documents/es-005").json()["id"] == "es-005"
        (info,) = http.get("/v1/indexes").json()["indexes"]
        assert info["name"] == "sample-2" and info["manifest"]["doc_count"] == 40


def test_cli_builds_sparse_only_shards_locally(sample_usem3_index: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from passerelle.commands.index import app

    out = tmp_path / "sparse-3"
    result = CliRunner().invoke(
        app, ["build", "--corpus", str(SAMPLE_DIR / "corpus.jsonl"), "--out", str(out), "--shards", "3", "--no-dense"]
    )
    assert result.exit_code == 0, result.output
    info = read_shards(out)
    assert info.shard_count == 3 and info.doc_count == 40 and info.encoder.name == "none"
    index = load_index(out)
    try:
        assert index.dense is None and index.encoder is None
        single = load_index(sample_usem3_index, dense=False)
        assert index.sparse["en"].search(SAMPLE_QUERIES[3], 10) == single.sparse["en"].search(SAMPLE_QUERIES[3], 10)
        single.close()
    finally:
        index.close()
    refused = CliRunner().invoke(app, ["delete", "--index", str(out), "fr-001"])
    assert refused.exit_code == 2 and "sharded index" in refused.output
    kept = load_index(out, dense=False)
    assert kept.docstore.get("fr-001") is not None
    kept.close()


def test_adding_to_a_sharded_index_is_refused_and_changes_nothing(
    sharded_index: Path, sample_dir: Path, tmp_path: Path
) -> None:
    import shutil

    from passerelle.indexing.errors import ConfigError
    from passerelle.indexing.update import add_documents, delete_documents

    copy = tmp_path / "sharded"
    shutil.copytree(sharded_index, copy)
    before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    with pytest.raises(ConfigError, match="sharded index"):
        add_documents(copy, sample_dir / "corpus.jsonl")
    with pytest.raises(ConfigError, match="sharded index"):
        delete_documents(copy, ["fr-001"])
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == before
