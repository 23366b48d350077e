"""Settings shared by the reliability tests (``tests/reliability``): small limits, an admin key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.server import API_KEY

# Small on purpose: the limits are easy to cross in a test, and the fuzzer's requests stay fast.
LIMITS: dict[str, Any] = {
    "max_k": 20,
    "max_depth": 50,
    "default_depth": 50,
    "max_query_chars": 200,
    "max_batch": 4,
    "max_body_bytes": 16 * 1024,
}


def reliability_settings(*indexes: Path, **overrides: Any) -> Any:
    """``ServiceSettings`` over ``indexes`` with the limits above and the test admin key."""
    from passerelle.service.api.settings import ServiceSettings

    return ServiceSettings(indexes=list(indexes), api_key=API_KEY, **{**LIMITS, **overrides})
