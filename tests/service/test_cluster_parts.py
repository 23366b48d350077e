"""The Ray-free parts of serving on Ray Serve: which deployment holds which shard, index versions, replica
settings as Serve options, and metrics of several processes merged (Ray itself: test_ray_serve.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from passerelle.indexing.errors import ConfigError, IndexFormatError
from passerelle.indexing.shards.layout import shard_of
from passerelle.service.api.metrics import Metrics, merge_expositions
from passerelle.service.api.settings import ReplicaSettings, ServiceSettings
from passerelle.service.cluster.layout import StoreLayout, check_version, index_version


def test_shards_group_into_deployments_and_ids_route_to_theirs() -> None:
    layout = StoreLayout(shard_dirs=tuple(f"shards/shard-{n:05d}" for n in range(5)), group=2)
    assert layout.deployment_count == 3
    assert [layout.shards_of(n) for n in range(3)] == [[0, 1], [2, 3], [4]]
    assert layout.deployment_names() == ["shards-00000-00001", "shards-00002-00003", "shard-00004"]
    for doc_id in ("fr-001", "de-016", "é", "x" * 300):
        assert layout.shard_of_doc(doc_id) == shard_of(doc_id, 5)
        assert layout.deployment_of_doc(doc_id) == shard_of(doc_id, 5) // 2
    single = StoreLayout(shard_dirs=("a", "b"))
    assert single.deployment_names() == ["shard-00000", "shard-00001"]


def test_a_plain_index_is_one_shard(sample_usem3_index: Path) -> None:
    layout = StoreLayout.read(sample_usem3_index)
    assert layout.shard_dirs == (".",) and layout.deployment_names() == ["shard-00000"]
    assert layout.deployment_of_doc("fr-001") == 0
    with pytest.raises(ConfigError, match="at least 1"):
        StoreLayout.read(sample_usem3_index, group=0)


def test_a_version_is_the_manifest_and_a_republished_index_is_refused(tmp_path: Path) -> None:
    with pytest.raises(IndexFormatError, match="no manifest.json"):
        index_version(tmp_path)
    (tmp_path / "manifest.json").write_text('{"created_at": "1"}', encoding="utf-8")
    version = index_version(tmp_path)
    assert len(version) == 16 and index_version(tmp_path) == version
    check_version(tmp_path, version)
    (tmp_path / "manifest.json").write_text('{"created_at": "2"}', encoding="utf-8")
    with pytest.raises(IndexFormatError, match="published again; reload the service"):
        check_version(tmp_path, version)


def test_replica_settings_become_serve_options() -> None:
    fixed = ReplicaSettings(replicas=2, cpus=0.5)
    assert fixed.serve_options() == {
        "ray_actor_options": {"num_cpus": 0.5},
        "max_ongoing_requests": 16,
        "num_replicas": 2,
    }
    scaled = ReplicaSettings(replicas=1, max_replicas=4, target_ongoing_requests=3).serve_options(min_ongoing=40)
    assert "num_replicas" not in scaled and scaled["max_ongoing_requests"] == 40
    assert scaled["autoscaling_config"] == {
        "min_replicas": 1,
        "initial_replicas": 1,
        "max_replicas": 4,
        "target_ongoing_requests": 3,
    }
    with pytest.raises(ValidationError, match="below replicas"):
        ReplicaSettings(replicas=3, max_replicas=2)
    settings = ServiceSettings.model_validate({"ray": {"shards": {"replicas": 2}, "shards_per_deployment": 4}})
    assert settings.ray.shards.replicas == 2 and settings.ray.sparse.replicas == 1
    with pytest.raises(ValidationError):
        ServiceSettings.model_validate({"ray": {"shard": {"replicas": 2}}})  # a typo is refused, not ignored


def _samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text.decode("utf-8"))
        for sample in family.samples
    }


def test_metrics_of_several_processes_merge_by_summing() -> None:
    first, second = Metrics(), Metrics()
    first.requests.labels("GET", "/v1/search", "200").inc(3)
    second.requests.labels("GET", "/v1/search", "200").inc(4)
    second.requests.labels("POST", "/v1/search", "503").inc()
    first.search_seconds.labels("hybrid", "idx").observe(0.004)
    second.search_seconds.labels("hybrid", "idx").observe(0.2)
    first.in_flight.inc(2)
    second.in_flight.inc(1)
    texts = [first.render()[0], second.render()[0]]
    merged = _samples(merge_expositions(texts))
    one, two = _samples(texts[0]), _samples(texts[1])
    get_200 = ("passerelle_http_requests_total", (("method", "GET"), ("route", "/v1/search"), ("status", "200")))
    assert merged[get_200] == 7
    assert (
        merged[("passerelle_http_requests_total", (("method", "POST"), ("route", "/v1/search"), ("status", "503")))]
        == 1
    )
    assert merged[("passerelle_requests_in_flight", ())] == 3
    labels = (("index", "idx"), ("mode", "hybrid"))
    assert merged[("passerelle_search_duration_seconds_count", labels)] == 2
    assert merged[("passerelle_search_duration_seconds_sum", labels)] == pytest.approx(0.204)
    assert merged[("passerelle_search_duration_seconds_bucket", (*labels[:1], ("le", "0.005"), *labels[1:]))] == 1
    created = ("passerelle_http_requests_created", get_200[1])
    assert merged[created] == min(one[created], two[created])  # a start time, not a sum
    assert set(merged) == set(one) | set(two)
    kinds = {family.name: family.type for family in text_string_to_metric_families(merge_expositions(texts).decode())}
    assert kinds["passerelle_http_requests"] == "counter" and kinds["passerelle_requests_in_flight"] == "gauge"
    assert kinds["passerelle_search_duration_seconds"] == "histogram"
