"""Errors raised by the indexing layer.

Every message says what went wrong and where (file, line, field) and, when there is one, how to fix it.
"""

from __future__ import annotations

from pathlib import Path


class PasserelleError(Exception):
    """Base class of every error Passerelle raises on purpose."""


class CorpusError(PasserelleError):
    """A corpus record cannot be read: malformed line, missing field, bad encoding, duplicate id."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        field: str | None = None,
        kind: str = "invalid_record",
    ) -> None:
        self.kind = kind
        self.path = str(path) if path is not None else None
        self.line = line
        self.field = field
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "")
        if field is not None:
            where = f"{where} field '{field}'" if where else f"field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message


class ConfigError(PasserelleError):
    """A setting or option has a value Passerelle cannot use."""


class IndexFormatError(PasserelleError):
    """An index directory is missing, incomplete, corrupted or from an incompatible version."""


class EncoderMismatchError(PasserelleError):
    """The encoder available at load time cannot reproduce the one an index was built with."""


class UnsupportedLanguageError(PasserelleError):
    """No analyzer (sparse) or encoder coverage (dense) for a language."""


class DuplicateDocumentError(PasserelleError):
    """A document id already exists in the index (use upsert to replace it)."""


class DocumentNotFoundError(PasserelleError):
    """A document id is not in the index."""


class JavaUnavailableError(PasserelleError):
    """The Java runtime needed for Lucene could not be started."""


def model_location_hint(model: str) -> str:
    """Why a model given by name may not load here (empty when ``model`` is a local path)."""
    if Path(model).exists():
        return ""
    return (
        " The model is neither a local path nor in the Hugging Face cache, and the hub may be unreachable "
        "(HF_HUB_OFFLINE=1): copy the model files to a folder and pass its path."
    )
