"""Errors raised by the service layer.

They derive from :class:`passerelle.indexing.errors.PasserelleError`, like every error Passerelle raises
on purpose; the HTTP app maps the whole hierarchy to status codes in one place
(:mod:`passerelle.service.api.http_errors`).
"""

from __future__ import annotations

from passerelle.indexing.errors import PasserelleError


class ServiceError(PasserelleError):
    """Base class of the errors raised by ``passerelle.service``."""


class FusionError(ServiceError):
    """Ranked lists or fusion parameters that cannot be fused (duplicate id, NaN score, bad weight)."""


class IndexNotFoundError(ServiceError):
    """A request names an index that the service has not loaded."""


class InvalidRequestError(ServiceError):
    """A request is well-formed but asks for something the service cannot do (e.g. k over the limit)."""


class FilterError(InvalidRequestError):
    """A search filter that is malformed or does not fit the index (unknown field, wrong type); ``path``
    says where, e.g. ``filter.and[1].year``."""

    def __init__(self, message: str, *, path: str = "filter") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message


class QueryTranslationUnavailableError(InvalidRequestError):
    """``translate_query`` was asked for but the service has no query translation model (HTTP 400)."""


class ServiceUnavailableError(ServiceError):
    """The service cannot answer now (indexes still loading, or every worker slot busy)."""

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AuthenticationError(ServiceError):
    """An admin request without the right ``X-API-Key`` header."""


class AdminDisabledError(ServiceError):
    """An admin route was called on a service started without an API key."""


class ReloadError(ServiceError):
    """An index could not be reloaded; the previous copy keeps serving."""
