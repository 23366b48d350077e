"""Check a user's string against a ``Literal`` type's values, with an error that lists them."""

from __future__ import annotations

from typing import Any, get_args

from passerelle.indexing.errors import ConfigError


def checked_choice(value: str, literal: Any, what: str) -> Any:
    """``value`` if it is one of ``literal``'s values (typed as that ``Literal``).

    Raises:
        ConfigError: naming ``what`` (e.g. ``--format``) and the accepted values.
    """
    allowed = get_args(literal)
    if value not in allowed:
        raise ConfigError(f"{what} must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value
