"""The xQG α ablation (eval/augment_ablation.py) on data/sample: the augment file from the English
translations, its leak guard, the memoizing encoder, and `passerelle eval augment-ablation` end to end,
checked against a plain index and against `passerelle index build --augment` run separately."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from support import SAMPLE_DIR, read_tsv
from typer.testing import CliRunner

from passerelle.cli import app
from passerelle.eval.augment_ablation import (
    AugmentLeakError,
    MemoEncoder,
    find_leaks,
    setting_name,
    split_units,
    write_augment_file,
)
from passerelle.eval.collections import load_collection
from passerelle.eval.trec import read_run
from passerelle.indexing.augment.records import read_augment_file
from passerelle.indexing.encoders.base import EncoderSpec

runner = CliRunner()
SAMPLE_QUERY_FILES = sorted(SAMPLE_DIR.glob("queries*.tsv"))


def _sample_docs() -> list[dict]:
    lines = (SAMPLE_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_split_units_sentences_and_paragraph():
    text = "Title line\nFirst sentence ends here. Second one? Third, with 3.5 km! 4 more.  "
    assert split_units(text, "sentence") == [
        "Title line",
        "First sentence ends here.",
        "Second one?",
        "Third, with 3.5 km!",
        "4 more.",
    ]
    assert split_units(text, "paragraph") == [text.strip()]
    with pytest.raises(Exception, match="unit must be one of"):
        split_units(text, "word")


def test_find_leaks_matches_whole_words_case_and_punctuation_free():
    queries = ["Who built the bridge?", "bridge"]
    assert find_leaks(["WHO built the bridge, in 1890."], queries) == [
        ("WHO built the bridge, in 1890.", "Who built the bridge?"),
        ("WHO built the bridge, in 1890.", "bridge"),
    ]
    assert find_leaks(["The bridges were built."], queries) == []  # 'bridge' is not a word of it


def test_augment_file_holds_the_english_translations_and_never_a_query(tmp_path):
    made = write_augment_file(SAMPLE_DIR, tmp_path / "augment.jsonl")
    records = list(read_augment_file(made.path))
    docs = _sample_docs()
    expected = [(d["id"], part) for d in docs for part in split_units(d["translations"]["en"], "sentence")]
    assert [(r.doc_id, r.text) for r in records] == expected
    assert {(r.kind, r.lang) for r in records} == {("query", "en")}
    assert (made.docs, made.texts) == (len(docs), len(expected)) == (40, len(records))
    queries = [text for path in SAMPLE_QUERY_FILES for text in read_tsv(path).values()]
    assert len(SAMPLE_QUERY_FILES) == 2 and len(queries) > 32  # the English and the French dev queries
    texts = {r.text.casefold() for r in records}
    assert not any(q.casefold() in text for q in queries for text in texts)
    assert find_leaks([r.text for r in records], queries) == []


def test_augment_file_refuses_a_corpus_that_holds_a_query(tmp_path):
    folder = tmp_path / "leaky"
    shutil.copytree(SAMPLE_DIR, folder)
    docs = _sample_docs()
    query = next(iter(read_tsv(SAMPLE_DIR / "queries.dev.tsv").values()))
    docs[5]["translations"]["en"] += " " + query
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    with pytest.raises(AugmentLeakError, match="contain a query"):
        write_augment_file(folder, tmp_path / "out" / "augment.jsonl")
    assert not (tmp_path / "out" / "augment.jsonl").exists()


class CountingEncoder:
    """Vectors from text lengths; counts the calls of each side."""

    spec = EncoderSpec(name="counting", dim=2)

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def encode_queries(self, texts):
        self.calls.append(("query", len(texts)))
        return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    def encode_documents(self, texts):
        self.calls.append(("document", len(texts)))
        return np.array([[len(t), 2.0] for t in texts], dtype=np.float32)


def test_memo_encoder_computes_each_call_once_and_returns_copies():
    inner = CountingEncoder()
    memo = MemoEncoder(inner)
    first = memo.encode_documents(["ab", "c"])
    first[0, 0] = 99.0  # the caller may modify what it gets
    np.testing.assert_array_equal(memo.encode_documents(["ab", "c"]), [[2, 2], [1, 2]])
    np.testing.assert_array_equal(memo.encode_queries(["ab", "c"]), [[2, 1], [1, 1]])  # other side, other key
    memo.encode_documents(["c", "ab"])  # another batch is another call
    assert inner.calls == [("document", 2), ("query", 2), ("document", 2)]
    assert memo.spec is inner.spec and memo.calls == 3


@pytest.fixture(scope="module")
def ablation(tmp_path_factory):
    """`passerelle eval augment-ablation` on data/sample, α in {0, 0.3} x {sum, mean}."""
    out = tmp_path_factory.mktemp("ablation")
    result = runner.invoke(
        app,
        [
            "eval",
            "augment-ablation",
            "--collection",
            str(SAMPLE_DIR),
            "--out",
            str(out),
            "--alphas",
            "0,0.3",
            "--aggs",
            "sum,mean",
            "--resamples",
            "200",
        ],
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_ablation_command_writes_runs_and_reports(ablation):
    folder = ablation / SAMPLE_DIR.name
    names = ["alpha=0", "alpha=0.3-sum", "alpha=0.3-mean"]
    assert names == [setting_name(0, "sum"), setting_name(0.3, "sum"), setting_name(0.3, "mean")]
    assert sorted(p.name for p in (folder / "runs").iterdir()) == sorted(f"{n}.trec" for n in names)
    assert not (folder / "indexes").exists() or not any((folder / "indexes").iterdir())  # not kept
    data = json.loads((ablation / "ablation.json").read_text(encoding="utf-8"))[SAMPLE_DIR.name]
    assert data["baseline"] == "alpha=0" and list(data["settings"]) == names
    assert data["queries"] == 32 and data["augment"]["docs"] == 40
    table = (ablation / "ablation.md").read_text(encoding="utf-8")
    assert all(f"| {n} |" in table for n in names)
    runs = {n: read_run(folder / "runs" / f"{n}.trec") for n in names}
    assert runs["alpha=0.3-sum"] != runs["alpha=0"]  # the mix changes the scores...
    assert runs["alpha=0.3-sum"] != runs["alpha=0.3-mean"]  # ...and sum differs from mean (4 texts per doc)


def _dense_run(index, tmp_path, name):
    from passerelle.eval.runners import SearcherSystem, run_systems
    from passerelle.service.searcher import Searcher

    searcher = Searcher.open(index)
    try:
        system = SearcherSystem.from_preset(searcher, "dense", name=name)
        return run_systems([system], load_collection(SAMPLE_DIR).queries, 100, tmp_path).runs[name]
    finally:
        searcher.index.close()


@pytest.mark.slow
def test_alpha_zero_is_exactly_the_plain_index(ablation, sample_usem3_index, tmp_path):
    plain = _dense_run(sample_usem3_index, tmp_path, "plain")
    assert read_run(ablation / SAMPLE_DIR.name / "runs" / "alpha=0.trec") == plain


@pytest.mark.slow
def test_ablation_run_equals_index_build_with_augment(ablation, tmp_path):
    """The memoized ablation and a separate `index build --augment` give the same run, score for score."""
    augment = ablation / SAMPLE_DIR.name / "augment.jsonl"
    index = tmp_path / "index"
    result = runner.invoke(
        app,
        [
            "index",
            "build",
            "--corpus",
            str(SAMPLE_DIR / "corpus.jsonl"),
            "--out",
            str(index),
            "--encoder",
            "usem3",
            "--no-sparse",
            "--augment",
            str(augment),
            "--augment-alpha",
            "0.3",
            "--augment-agg",
            "mean",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    assert (manifest["augmentation"]["alpha"], manifest["augmentation"]["agg"]) == (0.3, "mean")
    built = _dense_run(index, tmp_path, "built")
    assert read_run(ablation / SAMPLE_DIR.name / "runs" / "alpha=0.3-mean.trec") == built
