"""Systems under evaluation: something that answers a batch of queries with a :data:`Run`.

- :class:`SearcherSystem` runs in process over :class:`passerelle.service.searcher.Searcher`
  (imported lazily, so this module imports without the service).
- :class:`HttpSystem` calls a live service: ``POST {url}/v1/search/batch``.
- :func:`run_systems` runs several systems over the same queries and saves each run as a TREC file.

Both take a ``filter`` (the API's JSON form, e.g. ``{"year": {"gte": 2015}}``): every query is then answered
among the documents it allows, in process and over HTTP alike.

System names map to search options through :data:`SYSTEM_PRESETS` (``bm25``/``sparse``, ``dense``,
``latent`` (latent terms, for indexes that keep them), ``hybrid`` = what the service answers to
``mode=hybrid``: its default fusion, the language-aware ``auto`` of
:mod:`passerelle.service.language_fusion` unless the service is configured otherwise; ``hybrid-rrf`` = RRF
(k=60), ``hybrid-linear`` = linear over min-max normalized scores). One name, one system: the CLI, the
search page and the benchmarks use the same names.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from passerelle.eval.errors import RunnerError
from passerelle.eval.trec import Run, write_run

if TYPE_CHECKING:
    import httpx

    from passerelle.service.searcher import Searcher, SearchParams

logger = logging.getLogger(__name__)

SYSTEM_PRESETS: Mapping[str, Mapping[str, Any]] = {
    "bm25": {"mode": "sparse"},
    "sparse": {"mode": "sparse"},
    "dense": {"mode": "dense"},
    "latent": {"mode": "latent"},
    "hybrid": {"mode": "hybrid"},  # no fusion named: the searcher's (the service's) default
    "hybrid-rrf": {"mode": "hybrid", "fusion": "rrf"},
    "hybrid-linear": {"mode": "hybrid", "fusion": "linear", "normalization": "minmax"},
}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")


@runtime_checkable
class System(Protocol):
    """Anything that answers queries: ``run({qid: text}, k) -> {qid: {docid: score}}``."""

    name: str

    def run(self, queries: Mapping[str, str], k: int) -> Run:
        """Search every query and return the top ``k`` documents of each, best first."""
        ...


def preset(name: str) -> dict[str, Any]:
    """Search options of a named system (see :data:`SYSTEM_PRESETS`).

    Raises:
        RunnerError: unknown name.
    """
    if name not in SYSTEM_PRESETS:
        raise RunnerError(f"unknown system {name!r}; choose from {', '.join(SYSTEM_PRESETS)}")
    return dict(SYSTEM_PRESETS[name])


def _batches(qids: Sequence[str], size: int) -> Iterator[list[str]]:
    if size < 1:
        raise RunnerError(f"batch size must be >= 1, got {size}")
    for start in range(0, len(qids), size):
        yield list(qids[start : start + size])


def _progress(total: int, name: str, enabled: bool | None) -> Any:
    from tqdm.auto import tqdm

    disable = not logger.isEnabledFor(logging.INFO) if enabled is None else not enabled
    return tqdm(total=total, desc=name, unit="q", disable=disable)


class SearcherSystem:
    """In-process system: a :class:`Searcher` with fixed :class:`SearchParams` (``k`` set per run).

    ``depth`` (candidates per retriever) is raised to ``k`` when smaller, so a deep run is not cut.
    ``filter`` (the API's JSON form) restricts every query; it is checked here, against the index's fields.

    Raises:
        FilterError: a malformed filter, or one the index's fields do not fit.
    """

    def __init__(
        self,
        searcher: Searcher,
        params: SearchParams | None = None,
        *,
        name: str = "searcher",
        batch_size: int = 32,
        progress: bool | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> None:
        from passerelle.service.filters import parse_filter
        from passerelle.service.searcher import SearchParams

        if filter is not None:
            params = dataclasses.replace(params or SearchParams(), filter=parse_filter(filter))
            searcher.allowed(params)  # an unknown field or a wrong type fails now, not after the first batch
        self.searcher = searcher
        self.params = params
        self.name = name
        self.batch_size = batch_size
        self.progress = progress

    @classmethod
    def from_preset(
        cls,
        searcher: Searcher,
        system: str,
        *,
        name: str | None = None,
        batch_size: int = 32,
        filter: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> SearcherSystem:
        """A system from a :data:`SYSTEM_PRESETS` name, with extra ``SearchParams`` fields and a filter."""
        from passerelle.service.searcher import SearchParams

        params = SearchParams(**{**preset(system), **overrides})
        return cls(searcher, params, name=name or system, batch_size=batch_size, filter=filter)

    def run(self, queries: Mapping[str, str], k: int) -> Run:
        """Search every query with ``search_batch``, ``batch_size`` at a time."""
        from passerelle.service.searcher import SearchParams

        base = self.params if self.params is not None else SearchParams()
        params = dataclasses.replace(base, k=k, depth=max(base.depth, k))
        qids = list(queries)
        run: Run = {}
        with _progress(len(qids), self.name, self.progress) as bar:
            for batch in _batches(qids, self.batch_size):
                results = self.searcher.search_batch([queries[q] for q in batch], params)
                if len(results) != len(batch):
                    raise RunnerError(f"searcher answered {len(results)} of {len(batch)} queries")
                for qid, result in zip(batch, results, strict=True):
                    run[qid] = {hit.doc_id: float(hit.score) for hit in result.hits}
                bar.update(len(batch))
        return run


class HttpSystem:
    """A live service: ``POST {url}/v1/search/batch`` with ``options`` (mode, fusion, ...) and ``filter`` per
    batch (the service checks the filter: a bad one fails the first batch with its 422 message)."""

    def __init__(
        self,
        url: str,
        *,
        name: str,
        options: Mapping[str, Any] | None = None,
        batch_size: int = 32,
        timeout_s: float = 120.0,
        client: httpx.Client | None = None,
        progress: bool | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.name = name
        self.options = dict(options or {})
        if filter is not None:
            self.options["filter"] = dict(filter)
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.client = client
        self.progress = progress

    def run(self, queries: Mapping[str, str], k: int) -> Run:
        """Send the queries in batches; the answer's ``hits[].id``/``score`` become the run."""
        import httpx

        qids = list(queries)
        depth = max(int(self.options.get("depth", 100)), k)
        run: Run = {}
        client = self.client or httpx.Client(timeout=self.timeout_s)
        try:
            with _progress(len(qids), self.name, self.progress) as bar:
                for batch in _batches(qids, self.batch_size):
                    payload = {**self.options, "queries": [queries[q] for q in batch], "k": k, "depth": depth}
                    for qid, hits in zip(batch, self._post(client, payload, len(batch)), strict=True):
                        run[qid] = {str(hit["id"]): float(hit["score"]) for hit in hits}
                    bar.update(len(batch))
        finally:
            if self.client is None:
                client.close()
        return run

    def _post(self, client: httpx.Client, payload: dict[str, Any], expected: int) -> list[list[dict[str, Any]]]:
        import httpx

        endpoint = f"{self.url}/v1/search/batch"
        try:
            response = client.post(endpoint, json=payload)
        except httpx.HTTPError as exc:
            raise RunnerError(f"cannot reach {endpoint}: {exc}; is the service running?") from exc
        if response.status_code != 200:
            raise RunnerError(f"{endpoint} answered {response.status_code}: {response.text[:300]}")
        try:
            results = response.json()["results"]
            hits = [list(result["hits"]) for result in results]
            for result_hits in hits:
                for hit in result_hits:
                    if "id" not in hit or "score" not in hit:
                        raise KeyError("id/score")
        except (ValueError, KeyError, TypeError) as exc:
            raise RunnerError(f"{endpoint} gave an answer without results[].hits[].id/score ({exc})") from exc
        if len(hits) != expected:
            raise RunnerError(f"{endpoint} answered {len(hits)} results for {expected} queries")
        return hits


@dataclass(frozen=True)
class SystemRuns:
    """Runs of several systems over the same queries, with wall-clock seconds and saved files."""

    runs: dict[str, Run]
    seconds: dict[str, float]
    paths: dict[str, Path]


def run_systems(systems: Sequence[System], queries: Mapping[str, str], k: int, runs_dir: str | Path) -> SystemRuns:
    """Run each system over ``queries`` and save ``runs_dir/<name>.trec`` (TREC, tag = name).

    Raises:
        RunnerError: two systems with one name, or a name unfit for a file name or a TREC tag.
    """
    names = [system.name for system in systems]
    for name in names:
        if not _NAME.fullmatch(name):
            raise RunnerError(
                f"system name {name!r} must be letters, digits and ._+=- (it names a file and a TREC tag)"
            )
    if len(set(names)) != len(names):
        raise RunnerError(f"system names must be distinct, got {names}")
    runs: dict[str, Run] = {}
    seconds: dict[str, float] = {}
    paths: dict[str, Path] = {}
    for system in systems:
        start = time.perf_counter()
        runs[system.name] = system.run(queries, k)
        seconds[system.name] = time.perf_counter() - start
        paths[system.name] = write_run(runs[system.name], Path(runs_dir) / f"{system.name}.trec", tag=system.name)
        logger.info(
            "%s: %d queries in %.1f s (%.1f q/s)",
            system.name,
            len(queries),
            seconds[system.name],
            len(queries) / max(seconds[system.name], 1e-9),
        )
    return SystemRuns(runs=runs, seconds=seconds, paths=paths)
