"""Cross-lingual augmentation: generated queries (xQG), document translation (DT), query translation (QT).

Importing this package loads no model: the seq2seq backend imports torch/transformers on first use.
"""

from __future__ import annotations

from passerelle.indexing.augment.apply import AugmentSet, QueryMixer, describe_augmentation
from passerelle.indexing.augment.errors import AugmentConfigError, AugmentFileError, ModelLoadError
from passerelle.indexing.augment.mixing import AGGREGATIONS, DEFAULT_ALPHA, Aggregation, mix_embeddings
from passerelle.indexing.augment.records import AugmentRecord, read_augment_file

__all__ = [
    "AGGREGATIONS",
    "DEFAULT_ALPHA",
    "Aggregation",
    "AugmentConfigError",
    "AugmentFileError",
    "AugmentRecord",
    "AugmentSet",
    "ModelLoadError",
    "QueryMixer",
    "describe_augmentation",
    "mix_embeddings",
    "read_augment_file",
]
