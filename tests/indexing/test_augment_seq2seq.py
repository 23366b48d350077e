"""`passerelle augment generate|translate` end to end through tiny random T5 and Marian models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.augment import tiny_marian, tiny_t5
from typer.testing import CliRunner

from passerelle.indexing.augment.records import read_augment_file
from passerelle.indexing.augment.seq2seq import Seq2SeqConfig, Seq2SeqQueryGenerator
from passerelle.indexing.documents import Document

pytestmark = pytest.mark.slow  # imports torch and transformers (about 10 s on 2 cores)

DOCS = [
    {"id": f"d{i}", "lang": "fr", "title": "La boulangerie", "text": f"le pain la farine le four {i}"} for i in range(5)
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("models")
    return tiny_t5(root / "t5"), tiny_marian(root / "marian")


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    return path


def _augment(*args: str) -> str:
    from passerelle.cli import app

    result = CliRunner().invoke(app, ["augment", *args, "--device", "cpu", "--max-new-tokens", "6"])
    assert result.exit_code == 0, result.output
    return result.output


def _generate(model: Path, corpus: Path, out: Path, seed: str = "3") -> str:
    return _augment(
        "generate",
        "--model",
        str(model),
        "--index-or-corpus",
        str(corpus),
        "--langs",
        "en,fr",
        "--n",
        "2",
        "--out",
        str(out),
        "--seed",
        seed,
        "--batch-size",
        "2",
    )


def test_prompt_is_the_papers() -> None:
    generator = Seq2SeqQueryGenerator(Seq2SeqConfig(model="unused"))
    doc = Document("d", "fr", "Le titre", "Le passage.")
    assert generator.prompt(doc, "en") == "Generate a English question for this passage: Le titre Le passage."


def test_generate_is_deterministic_and_complete(models: tuple[Path, Path], corpus: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert "10 units written" in _generate(models[0], corpus, first)
    _generate(models[0], corpus, second)
    assert first.read_bytes() == second.read_bytes()
    records = list(read_augment_file(first))
    assert {(r.doc_id, r.lang) for r in records} == {(d["id"], lang) for d in DOCS for lang in ("en", "fr")}
    assert all(r.kind == "query" for r in records) and len(records) <= 5 * 2 * 2
    _generate(models[0], corpus, tmp_path / "c.jsonl", seed="4")
    assert (tmp_path / "c.jsonl").read_bytes() != first.read_bytes()


def test_generate_resumes_only_the_missing_work(models: tuple[Path, Path], corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.jsonl"
    _generate(models[0], corpus, out)
    records = list(read_augment_file(out))
    units = list(dict.fromkeys((r.doc_id, r.lang) for r in records))
    keep = sum(1 for r in records if (r.doc_id, r.lang) in units[:2])
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:keep]) + lines[keep][:15])  # two whole units, then a torn line
    output = _generate(models[0], corpus, out)
    assert "8 units written" in output and "2 already done" in output
    again = list(read_augment_file(out))
    assert again[:keep] == records[:keep]
    assert {(r.doc_id, r.lang) for r in again} == set(units)
    assert "0 units written" in _generate(models[0], corpus, out) and "10 already done" in _generate(
        models[0], corpus, out
    )


def test_translate_skips_the_documents_own_language(models: tuple[Path, Path], corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    output = _augment(
        "translate",
        "--model",
        str(models[1]),
        "--index-or-corpus",
        str(corpus),
        "--langs",
        "en,fr",
        "--out",
        str(out),
        "--num-beams",
        "2",
    )
    assert "5 units written" in output
    records = list(read_augment_file(out))
    assert [(r.doc_id, r.kind, r.lang) for r in records] == [(d["id"], "translation", "en") for d in DOCS]
    again = tmp_path / "t2.jsonl"
    _augment(
        "translate",
        "--model",
        str(models[1]),
        "--index-or-corpus",
        str(corpus),
        "--langs",
        "en",
        "--out",
        str(again),
        "--num-beams",
        "2",
    )
    assert again.read_bytes() == out.read_bytes()


def test_missing_model_is_a_clear_error(corpus: Path, tmp_path: Path) -> None:
    from passerelle.cli import app

    result = CliRunner().invoke(
        app,
        [
            "augment",
            "translate",
            "--model",
            str(tmp_path / "nowhere"),
            "--index-or-corpus",
            str(corpus),
            "--langs",
            "en",
            "--out",
            str(tmp_path / "t.jsonl"),
        ],
    )
    assert result.exit_code == 2
    assert "cannot load seq2seq model" in result.output
