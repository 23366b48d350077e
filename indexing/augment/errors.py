"""Errors of the augmentation step (all derive from :class:`PasserelleError`)."""

from __future__ import annotations

from passerelle.indexing.errors import ConfigError, CorpusError


class AugmentFileError(CorpusError):
    """An augmentation JSONL file has a bad line (the message names file:line and field)."""


class AugmentConfigError(ConfigError):
    """Augmentation options that cannot work (alpha out of range, unknown aggregation, missing model)."""


class ModelLoadError(AugmentConfigError):
    """A seq2seq model or its tokenizer cannot be loaded from the given hub id or path."""
