"""The one place where errors become HTTP responses.

Every error body is ``{"error": <type>, "detail": <message or list of invalid fields>}``. User input
never yields a 500: invalid fields give 422 (naming the field), unknown ids 404, a busy service 503
with ``Retry-After``. Anything unexpected is logged with its traceback and answered with a bare 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from passerelle.indexing.errors import (
    ConfigError,
    DocumentNotFoundError,
    EncoderMismatchError,
    IndexFormatError,
    JavaUnavailableError,
    PasserelleError,
    UnsupportedLanguageError,
)
from passerelle.service.api.log_throttle import ThrottledWarning
from passerelle.service.errors import (
    AdminDisabledError,
    AuthenticationError,
    FusionError,
    IndexNotFoundError,
    InvalidRequestError,
    QueryTranslationUnavailableError,
    ReloadError,
    ServiceUnavailableError,
)

logger = logging.getLogger(__name__)
# 503s come in floods when the service is overloaded: one line per error type and route every few seconds
_unavailable_log = ThrottledWarning(logger, period_s=5.0)

# Most specific first: the first class an error is an instance of decides its status.
STATUS_OF: tuple[tuple[type[PasserelleError], int], ...] = (
    (DocumentNotFoundError, 404),
    (IndexNotFoundError, 404),
    (AdminDisabledError, 404),
    (AuthenticationError, 403),
    (ReloadError, 409),
    (QueryTranslationUnavailableError, 400),
    (UnsupportedLanguageError, 422),
    (InvalidRequestError, 422),
    (FusionError, 422),
    (ConfigError, 422),
    (ServiceUnavailableError, 503),
    (JavaUnavailableError, 503),
    (IndexFormatError, 500),
    (EncoderMismatchError, 500),
    (PasserelleError, 500),
)


def status_of(error: PasserelleError) -> int:
    """The HTTP status for a Passerelle error."""
    for cls, status in STATUS_OF:
        if isinstance(error, cls):
            return status
    return 500


def _count(request: Request, error: str, status: int) -> None:
    state = getattr(request.app.state, "passerelle", None)
    if state is not None:
        state.metrics.errors.labels(error, str(status)).inc()


def error_response(status: int, error: str, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    """A JSON error response in the service's shape."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


async def _passerelle_error(request: Request, exc: PasserelleError) -> JSONResponse:
    status = status_of(exc)
    name = type(exc).__name__
    _count(request, name, status)
    headers = None
    if isinstance(exc, ServiceUnavailableError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    if status == 503:
        route = getattr(request.scope.get("route"), "path", "")  # the template: a bounded set of keys
        message = f"{name} on {request.method} {request.url.path}: {exc}"
        _unavailable_log.warning(f"{name} {request.method} {route}", message)
    elif status >= 500:
        logger.error("%s on %s %s: %s", name, request.method, request.url.path, exc)
    return error_response(status, name, str(exc), headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    _count(request, "RequestValidationError", 422)
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]
    return error_response(422, "RequestValidationError", jsonable_encoder(detail))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    _count(request, "HTTPException", exc.status_code)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
    return error_response(exc.status_code, "HTTPException", exc.detail, headers or None)


def allowed_methods(request: Request, fallback: str = "") -> str:
    """Every method the requested path answers, for the ``Allow`` header of a 405.

    Starlette names only the methods of the first route matching the path, but one path can have several
    routes (``GET`` and ``POST /v1/search``); RFC 9110 wants all of them.
    """
    path = request.scope.get("path", "")
    methods = {m.strip() for m in fallback.split(",") if m.strip()}
    for route in _leaf_routes(request.app.router.routes):
        if route.path_regex.match(path):
            methods |= set(route.methods)
    return ", ".join(sorted(methods))


def _leaf_routes(routes: Any) -> Any:
    """Routes with methods, looking inside included routers (FastAPI may keep them nested)."""
    for route in routes:
        if getattr(route, "methods", None) and getattr(route, "path_regex", None) is not None:
            yield route
        nested = getattr(route, "routes", None) or getattr(getattr(route, "original_router", None), "routes", None)
        if nested:
            yield from _leaf_routes(nested)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _count(request, type(exc).__name__, 500)
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "InternalServerError", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    # Starlette types handlers as taking any Exception; each of these gets only its own class.
    app.add_exception_handler(PasserelleError, _passerelle_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
