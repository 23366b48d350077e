"""A replaced index copy's freed memory goes back to the system (glibc ``malloc_trim``), not into heap holes."""

from __future__ import annotations

import sys

import psutil
import pytest

from passerelle.service.heap import give_back_free_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")


def test_freed_chunks_between_live_ones_are_given_back() -> None:
    process = psutil.Process()
    # 64 KiB chunks (under glibc's mmap threshold: from the heap) with a 1 KiB live object after each, so
    # that the freed chunks are holes below live memory, which free() alone never returns
    chunks, keepers = [], []
    for _ in range(2_000):
        chunks.append(bytearray(b"\x01") * (64 * 1024))  # written: its pages are resident
        keepers.append(bytearray(b"\x01") * 1024)  # over 512 bytes: from malloc, not Python's own arenas
    del chunks
    before = process.memory_info().rss
    assert give_back_free_memory()
    after = process.memory_info().rss
    assert before - after >= 64 * 2**20, (before / 2**20, after / 2**20)
    assert len(keepers) == 2_000
