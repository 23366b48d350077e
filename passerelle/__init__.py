"""Passerelle: cross-lingual retrieval (multilingual dense + per-language BM25, fused) with evaluation.

The parts install as ``passerelle.indexing``, ``passerelle.service`` and ``passerelle.eval``.
Importing this package does nothing else.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
