"""The service layer: the search core, and the HTTP API on top of it.

The search core (this package's modules) needs neither FastAPI nor pydantic (a ruff rule enforces it):
:mod:`~passerelle.service.searcher` (dense, sparse and hybrid search over one loaded index),
:mod:`~passerelle.service.fusion` (pure rank fusion), :mod:`~passerelle.service.language_fusion` (the
language-aware ``auto`` fusion and its profiles), :mod:`~passerelle.service.batching` (micro-batching of
concurrent queries), :mod:`~passerelle.service.query_translation` and :mod:`~passerelle.service.errors`.

The HTTP layer is :mod:`passerelle.service.api` (app factory, routes, schemas, settings, metrics, limits).

Importing this package imports nothing else.
"""
