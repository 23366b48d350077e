"""The index registry (atomic swap, deferred close) and the admission limit."""

from __future__ import annotations

import asyncio
import contextlib
import time
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


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_admission_refuses_when_the_predicted_wait_is_over_the_bound() -> None:
    clock = _Clock()
    metrics = Metrics()
    admission = Admission(limit=1000, retry_after_s=1, metrics=metrics, max_wait_s=0.25, clock=clock)
    with admission.slot():  # one request of 50 ms: the server answers one every 50 ms while busy
        clock.now += 0.05
    assert admission.gap_s == pytest.approx(0.05)
    with contextlib.ExitStack() as held:
        for _ in range(5):  # 5 in flight x 50 ms = 250 ms: still within the bound
            held.enter_context(admission.slot())
        assert admission.predicted_wait_s() == pytest.approx(0.25)
        held.enter_context(admission.slot())  # predicted 250 ms <= bound: admitted
        with pytest.raises(ServiceUnavailableError) as info, admission.slot():  # 6 x 50 ms = 300 ms > 250
            pass
        assert "300 ms" in str(info.value) and info.value.retry_after_s == 1
        clock.now += 0.3  # completions come faster: 6 done in 0.3 s
    assert admission.active == 0
    assert metrics.registry.get_sample_value("passerelle_rejected_requests_total") == 1


def test_an_idle_server_admits_whatever_its_last_estimate() -> None:
    clock = _Clock()
    admission = Admission(limit=1000, retry_after_s=1, max_wait_s=0.1, clock=clock)
    with admission.slot():
        clock.now += 3.0  # one very slow request (the first: taken as it is)
    assert admission.predicted_wait_s() == 0.0  # nothing in flight: admitted
    with admission.slot():
        with pytest.raises(ServiceUnavailableError) as info, admission.slot():
            pass
        assert info.value.retry_after_s == 3  # Retry-After is the predicted wait, rounded up
        clock.now += 0.01
    clock.now += 60.0  # an idle minute is not counted as service time
    with admission.slot():
        clock.now += 0.01
    assert admission.gap_s == pytest.approx((3.0 + 0.01 + 0.01) / 3)  # the idle minute is not in it
    for _ in range(64):  # the slow one leaves the window
        with admission.slot():
            clock.now += 0.01
    assert admission.gap_s == pytest.approx(0.01)


def test_a_few_requests_in_flight_are_always_admitted() -> None:
    clock = _Clock()
    admission = Admission(limit=1000, retry_after_s=1, max_wait_s=0.1, floor=3, clock=clock)
    with admission.slot():
        clock.now += 5.0
    # 0, 1 and 2 in flight before each of the first three: admitted; the fourth is refused
    with admission.slot(), admission.slot(), admission.slot(), pytest.raises(ServiceUnavailableError), admission.slot():
        pass


def test_a_saturated_event_loop_counts_in_the_predicted_wait() -> None:
    async def scenario() -> None:
        admission = Admission(limit=10, retry_after_s=1, max_wait_s=0.1)
        watcher = asyncio.create_task(admission.watch_loop())
        await asyncio.sleep(0.2)
        assert admission.loop_lag_s < 0.05  # a free loop is on time
        for _ in range(12):  # the loop kept busy 0.2 s at a time (parsing and answering a flood of requests)
            time.sleep(0.2)
            await asyncio.sleep(0)
        assert admission.loop_lag_s > 0.1
        with admission.slot(), pytest.raises(ServiceUnavailableError), admission.slot():
            pass
        watcher.cancel()

    asyncio.run(scenario())


def test_refusals_start_after_the_grace_and_stop_below_half_the_bound() -> None:
    clock = _Clock()
    admission = Admission(limit=1000, retry_after_s=1, max_wait_s=0.1, grace_s=0.2, clock=clock)
    with admission.slot():
        clock.now += 0.1  # 100 ms between completions
    # 0 then 1 in flight (100 ms: within the bound), then 200 ms predicted: over, but a stall may clear by itself
    with admission.slot(), admission.slot(), admission.slot():
        clock.now += 0.15
        with admission.slot():  # still over, still in grace
            clock.now += 0.1
            with pytest.raises(ServiceUnavailableError), admission.slot():  # over for 0.25 s: refused
                pass
