"""Give the C heap's free pages back to the operating system after a large release (glibc ``malloc_trim``).

A reload frees a whole copy of an index (FAISS arrays, docstore pages, Lucene readers' native buffers)
whose sizes change a little with every ``index add``/``delete``; glibc keeps such freed chunks in its
arenas, and after hundreds of reloads the holes add up (the 30-min soak: ~0.1 MiB of resident memory per
reload). ``malloc_trim(0)`` returns every whole free page of every arena. Elsewhere nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _malloc_trim() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def give_back_free_memory() -> bool:
    """Return the C heap's free pages to the system; whether any were (never raises: an optimization)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    released = bool(trim(0))
    logger.debug("malloc_trim: %s", "released memory" if released else "nothing to release")
    return released
