"""Runners: the HTTP system against a mock transport, presets, and saving runs as TREC files."""

from __future__ import annotations

import json

import httpx
import pytest

from passerelle.eval.errors import RunnerError
from passerelle.eval.runners import SYSTEM_PRESETS, HttpSystem, System, preset, run_systems
from passerelle.eval.trec import read_run

QUERIES = {f"q{i}": f"question {i}" for i in range(5)}


class FakeService:
    """Answers /v1/search/batch: for query 'question i', documents d{i}-0 .. d{i}-(k-1)."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/search/batch"
        body = json.loads(request.content)
        self.bodies.append(body)
        results = []
        for query in body["queries"]:
            i = query.split()[-1]
            hits = [
                {
                    "id": f"d{i}-{r}",
                    "score": 1.0 / (r + 1),
                    "lang": "fr",
                    "title": "",
                    "snippet": "",
                    "sources": None,
                    "explanation": None,
                }
                for r in range(body["k"])
            ]
            results.append(
                {"query": query, "query_lang": "en", "mode": body.get("mode", "hybrid"), "hits": hits, "timings_ms": {}}
            )
        return httpx.Response(200, json={"results": results})


def _client(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_presets_map_names_to_search_options():
    assert preset("bm25") == preset("sparse") == {"mode": "sparse"}
    assert preset("dense") == {"mode": "dense"}
    assert preset("hybrid") == {"mode": "hybrid"}  # the service's default fusion, whatever it is configured to
    assert preset("hybrid-rrf") == {"mode": "hybrid", "fusion": "rrf"}
    with pytest.raises(RunnerError, match="unknown system 'hybrid-auto'"):
        preset("hybrid-auto")  # one name per system: the default is `hybrid`
    assert preset("hybrid-linear") == {"mode": "hybrid", "fusion": "linear", "normalization": "minmax"}
    with pytest.raises(RunnerError, match="unknown system 'bm42'"):
        preset("bm42")
    preset("dense")["mode"] = "changed"
    assert SYSTEM_PRESETS["dense"]["mode"] == "dense"


def test_http_system_batches_and_forwards_options():
    service = FakeService()
    system = HttpSystem(
        "http://svc/", name="dense", options=preset("dense"), batch_size=2, client=_client(service), progress=False
    )
    assert isinstance(system, System)
    run = system.run(QUERIES, k=3)
    assert [len(body["queries"]) for body in service.bodies] == [2, 2, 1]
    assert all(body["mode"] == "dense" and body["k"] == 3 and body["depth"] == 100 for body in service.bodies)
    assert list(run) == list(QUERIES)
    assert run["q4"] == {"d4-0": 1.0, "d4-1": 0.5, "d4-2": 1 / 3}


def test_http_system_raises_depth_to_k():
    service = FakeService()
    HttpSystem("http://svc", name="h", options={"depth": 50}, client=_client(service), progress=False).run(
        {"q1": "question 1"}, k=200
    )
    assert service.bodies[0]["depth"] == 200


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (httpx.Response(503, text="indexes still loading"), "answered 503: indexes still loading"),
        (httpx.Response(200, json={"results": []}), "answered 0 results for 1 queries"),
        (httpx.Response(200, json={"oops": 1}), "without results"),
        (httpx.Response(200, json={"results": [{"hits": [{"id": "d"}]}]}), "without results"),
    ],
)
def test_http_system_reports_bad_answers(response, reason):
    system = HttpSystem("http://svc", name="h", client=_client(lambda request: response), progress=False)
    with pytest.raises(RunnerError, match=reason):
        system.run({"q1": "question 1"}, k=10)


def test_http_system_reports_an_unreachable_service():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    system = HttpSystem("http://svc", name="h", client=_client(refuse), progress=False)
    with pytest.raises(RunnerError, match="cannot reach http://svc/v1/search/batch"):
        system.run({"q1": "question 1"}, k=10)


class Echo:
    """A deterministic system: query i returns documents i, i+1, ... with decreasing scores."""

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, queries, k):
        return {qid: {f"d{int(qid[1:]) + r}": float(k - r) for r in range(k)} for qid in queries}


def test_run_systems_saves_one_trec_file_per_system(tmp_path):
    done = run_systems([Echo("bm25"), Echo("dense")], QUERIES, 4, tmp_path / "runs")
    assert set(done.runs) == {"bm25", "dense"}
    assert done.paths["dense"] == tmp_path / "runs" / "dense.trec"
    assert read_run(done.paths["dense"]) == done.runs["dense"]
    assert done.paths["bm25"].read_text(encoding="utf-8").splitlines()[0] == "q0 Q0 d0 1 4.0 bm25"
    assert all(seconds >= 0 for seconds in done.seconds.values())


@pytest.mark.parametrize(
    ("names", "reason"), [(["a", "a"], "distinct"), (["a/b"], "names a file"), (["my system"], "names a file")]
)
def test_run_systems_checks_names(tmp_path, names, reason):
    with pytest.raises(RunnerError, match=reason):
        run_systems([Echo(n) for n in names], QUERIES, 2, tmp_path)


def test_searcher_system_passes_k_and_depth():
    """In-process runner over a stand-in searcher (no index needed)."""
    searcher_module = pytest.importorskip("passerelle.service.searcher")
    from types import SimpleNamespace

    from passerelle.eval.runners import SearcherSystem

    class StandIn:
        def __init__(self) -> None:
            self.calls = []

        def search_batch(self, queries, params):
            self.calls.append((list(queries), params))
            return [
                SimpleNamespace(hits=[SimpleNamespace(doc_id=f"{q}-{r}", score=float(-r)) for r in range(params.k)])
                for q in queries
            ]

    stand_in = StandIn()
    system = SearcherSystem.from_preset(stand_in, "hybrid-linear", batch_size=3)
    system.progress = False
    run = system.run(QUERIES, k=150)
    assert [len(queries) for queries, _ in stand_in.calls] == [3, 2]
    params = stand_in.calls[0][1]
    assert isinstance(params, searcher_module.SearchParams)
    assert (params.mode, params.fusion, params.normalization, params.k, params.depth) == (
        "hybrid",
        "linear",
        "minmax",
        150,
        150,
    )
    assert len(run["q0"]) == 150 and run["q0"]["question 0-1"] == -1.0
