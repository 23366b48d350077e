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
from passerelle.service.errors import (
    AdminDisabledError,
    AuthenticationError,
    FusionError,
    IndexNotFoundError,
    InvalidRequestError,
    ReloadError,
    ServiceUnavailableError,
)

logger = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of decides its status.
STATUS_OF: tuple[tuple[type[PasserelleError], int], ...] = (
    (DocumentNotFoundError, 404),
    (IndexNotFoundError, 404),
    (AdminDisabledError, 404),
    (AuthenticationError, 403),
    (ReloadError, 409),
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


def error_response(status: int, error: str, detail: Any,
                   headers: dict[str, str] | None = None) -> JSONResponse:
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
        logger.warning("%s on %s %s: %s", name, request.method, request.url.path, exc)
    elif status >= 500:
        logger.error("%s on %s %s: %s", name, request.method, request.url.path, exc)
    return error_response(status, name, str(exc), headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    _count(request, "RequestValidationError", 422)
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]
    return error_response(422, "RequestValidationError", jsonable_encoder(detail))


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    _count(request, "HTTPException", exc.status_code)
    return error_response(exc.status_code, "HTTPException", exc.detail, dict(exc.headers or {}) or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    _count(request, type(exc).__name__, 500)
    logger.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "InternalServerError", "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    # Starlette types handlers as taking any Exception; each of these gets only its own class.
    app.add_exception_handler(PasserelleError, _passerelle_error)
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
