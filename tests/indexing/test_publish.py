"""Removing a failed build's staging directory while a dying writer is still adding files to it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from passerelle.indexing.publish import discard, staging_dir


def test_discard_outlasts_a_writer_that_recreates_files(tmp_path: Path) -> None:
    staging = staging_dir(tmp_path / "index")
    stop = time.monotonic() + 0.4

    def straggler() -> None:  # what a cancelled shard build does for a moment after the driver gave up
        n = 0
        while time.monotonic() < stop:
            (staging / "shards" / "shard-00001").mkdir(parents=True, exist_ok=True)
            (staging / "shards" / "shard-00001" / f"segment-{n % 20}").write_bytes(b"x" * 4096)
            n += 1

    writer = threading.Thread(target=straggler)
    writer.start()
    time.sleep(0.05)
    discard(staging, attempts=5, pause_s=0.2)
    writer.join()
    assert not staging.exists()
    assert list(tmp_path.iterdir()) == []
