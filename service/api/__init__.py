"""The HTTP layer over the search core: ``create_app`` (:mod:`~passerelle.service.api.app`), the routes,
the request/response schemas (pydantic lives here and only here), settings, app state, limits, metrics, and
the mapping of errors to HTTP answers (:mod:`~passerelle.service.api.http_errors`).

Importing this package imports nothing else.
"""
