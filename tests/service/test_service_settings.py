"""ServiceSettings: safe defaults, and refusal of unsafe or inconsistent values."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from passerelle.service.api.settings import Mode, ServiceSettings, index_name


def test_defaults_are_closed_and_local() -> None:
    s = ServiceSettings()
    assert (s.host, s.port, s.cors_origins, s.api_key, s.admin_enabled) == ("127.0.0.1", 8000, [], None, False)
    assert (s.max_k, s.max_query_chars, s.max_batch, s.max_concurrency) == (100, 1000, 256, 256)
    assert (s.default_mode, s.default_fusion, s.default_normalization, s.default_rrf_k) == (
        "hybrid",
        "auto",
        "minmax",
        60,
    )


def test_api_key_is_secret() -> None:
    s = ServiceSettings(api_key="k" * 16)
    assert s.admin_enabled
    assert "k" * 16 not in repr(s) and "k" * 16 not in s.model_dump_json()


def test_index_names_are_directory_names(tmp_path: Path) -> None:
    s = ServiceSettings(indexes=[tmp_path / "a", tmp_path / "b/"])
    assert s.index_names() == ["a", "b"]
    assert index_name(Path(".")) == Path.cwd().name


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"port": 0}, "port"),
        ({"port": 70000}, "port"),
        ({"host": "not a host!"}, "host"),
        ({"api_key": "short"}, "api_key"),
        ({"api_key": " padded-key-1234567 "}, "api_key"),
        ({"cors_origins": ["*"]}, "cors_origins"),
        ({"cors_origins": ["example.org"]}, "cors_origins"),
        ({"cors_origins": ["https://example.org/path"]}, "cors_origins"),
        ({"max_k": 0}, "max_k"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"default_mode": "semantic"}, "default_mode"),
        ({"default_fusion": "borda"}, "default_fusion"),
        ({"default_normalization": "l2"}, "default_normalization"),
        ({"indexes": ["x/same", "y/same"]}, "indexes"),
        ({"unknown_option": 1}, "unknown_option"),
    ],
)
def test_refuses(values: dict, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        ServiceSettings(**values)
    assert field in str(info.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [({"max_k": 5, "default_k": 10}, "default_k"), ({"max_depth": 50, "default_depth": 100}, "default_depth")],
)
def test_refuses_inconsistent_defaults(values: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ServiceSettings(**values)


def test_accepts_valid_values() -> None:
    s = ServiceSettings(host="0.0.0.0", cors_origins=["https://example.org/", "http://localhost:3000"], port=9000)
    assert s.cors_origins == ["https://example.org", "http://localhost:3000"]
    assert ServiceSettings(host="::1").host == "::1"
    assert ServiceSettings(host="search.internal").host == "search.internal"


def test_frozen() -> None:
    with pytest.raises(ValidationError):
        ServiceSettings().port = 1  # type: ignore[misc]


def test_modes_match_the_searcher() -> None:
    from passerelle.service import searcher

    assert get_args(Mode) == get_args(searcher.Mode)
