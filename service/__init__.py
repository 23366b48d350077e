"""The service layer: the search core and the HTTP API on top of it.

- ``searcher`` (search over one loaded index) and ``fusion`` (pure rank fusion): importable without FastAPI.
- ``app`` (``create_app`` factory), ``routes_*``, ``schemas``, ``settings``, ``state``, ``metrics``,
  ``deps``, ``http_errors``: the HTTP layer.

Importing this package imports nothing else.
"""
