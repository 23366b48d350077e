"""The index registry (atomic swap, deferred close) and the admission limit."""

from __future__ import annotations

from typing import Any

import pytest

from passerelle.service.api.metrics import Metrics
from passerelle.service.api.state import Admission, IndexRegistry, ServedIndex
from passerelle.service.errors import IndexNotFoundError, ServiceUnavailableError


def _entry(name: str, searcher: Any) -> ServedIndex:
    return ServedIndex(name=name, path=None, searcher=searcher, owned=False)  # never closes the fixture


def test_default_is_the_first_and_unknown_names_are_404(searcher: Any) -> None:
    registry = IndexRegistry([_entry("a", searcher), _entry("b", searcher)])
    assert registry.names() == ["a", "b"]
    assert registry.get().name == "a"
    assert registry.get("b").name == "b"
    with pytest.raises(IndexNotFoundError, match="no index named 'c'; loaded indexes: a, b"):
        registry.get("c")
    with pytest.raises(ServiceUnavailableError):
        IndexRegistry().get()


def test_swap_keeps_the_leased_copy_until_its_last_request_ends(searcher: Any) -> None:
    registry = IndexRegistry([_entry("a", searcher)])
    with registry.lease("a") as old, registry.lease("a") as same:
        assert old is same and old.leases == 2
        new = _entry("a", searcher)
        assert registry.swap(new) is old
        assert registry.get("a") is new  # new requests get the new copy at once
        assert old.retired and not old.closed  # in-flight requests keep the old one
    assert old.leases == 0 and old.closed  # released by the last request
    assert not new.retired and not new.closed


def test_swap_closes_an_idle_copy_at_once_and_keeps_the_order(searcher: Any) -> None:
    first, second = _entry("a", searcher), _entry("b", searcher)
    registry = IndexRegistry([first, second])
    registry.swap(_entry("a", searcher))
    assert first.closed
    assert registry.names() == ["a", "b"]
    registry.retire_all()
    assert registry.names() == [] and second.closed


def test_admission_refuses_beyond_the_limit() -> None:
    metrics = Metrics()
    admission = Admission(limit=2, retry_after_s=3, metrics=metrics)
    with admission.slot(), admission.slot():
        assert metrics.registry.get_sample_value("passerelle_requests_in_flight") == 2
        with pytest.raises(ServiceUnavailableError) as info, admission.slot():
            pass
        assert info.value.retry_after_s == 3
    assert admission.active == 0
    with admission.slot():
        assert admission.active == 1
    assert metrics.registry.get_sample_value("passerelle_rejected_requests_total") == 1
