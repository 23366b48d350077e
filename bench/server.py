"""A real ``passerelle serve`` for benchmarks: its own process on a loopback port, and its memory.

Peak memory is the kernel's high-water mark of the server's resident set (``VmHWM`` in
``/proc/<pid>/status``): Python, the JVM inside it (pyjnius), FAISS, SQLite and the mapped Lucene files
it touched.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from passerelle.bench.timing import BenchmarkError

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class ServerProcess:
    """A running server: its URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def memory_mb(self) -> dict[str, float]:
        """``{"rss_mb", "peak_rss_mb"}`` of the server process now (Linux ``/proc``; psutil elsewhere)."""
        return process_memory_mb(self.process.pid)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client for this server (60 s timeout unless given)."""
        import httpx

        return httpx.Client(base_url=self.url, **{"timeout": 60.0, **kwargs})

    def log_text(self) -> str:
        """Everything the server has logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.is_file() else ""


def process_memory_mb(pid: int) -> dict[str, float]:
    """Current and peak resident set size of process ``pid``, in MiB."""
    status = Path(f"/proc/{pid}/status")
    if status.is_file():
        fields = {}
        for line in status.read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024  # kB -> MiB
        return {"rss_mb": round(fields.get("VmRSS", 0.0), 1), "peak_rss_mb": round(fields.get("VmHWM", 0.0), 1)}
    import psutil

    info = psutil.Process(pid).memory_info()
    peak = getattr(info, "peak_wset", info.rss)  # Windows has a peak; elsewhere the current RSS is the bound
    return {"rss_mb": round(info.rss / 2**20, 1), "peak_rss_mb": round(peak / 2**20, 1)}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(
    indexes: Sequence[Path],
    log: Path,
    *,
    args: Sequence[str] = ("--max-concurrency", "64"),
    env: Mapping[str, str] | None = None,
    ready_path: str = "/readyz",
    timeout_s: float = 900.0,
) -> Iterator[ServerProcess]:
    """Run ``python -m passerelle serve --index ... *args`` on a free loopback port until the block ends.

    Waits until ``ready_path`` answers below 500 (``/readyz``: every index loaded); stops the server
    with SIGTERM after. ``env`` is added to this process's environment.

    Raises:
        BenchmarkError: the server exited, or was not ready within ``timeout_s`` (its log tail is shown).
    """
    import httpx

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "passerelle",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        *args,
    ]
    for index in indexes:
        command += ["--index", str(index)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        )
    server = ServerProcess(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        deadline = time.monotonic() + timeout_s
        with server.client(timeout=5.0) as client:
            while True:
                if process.poll() is not None:
                    raise BenchmarkError(f"the server exited with {process.returncode}: {_tail(log)}")
                if time.monotonic() > deadline:
                    raise BenchmarkError(f"the server was not ready within {timeout_s:.0f} s: {_tail(log)}")
                try:
                    if client.get(ready_path).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        yield server
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """SIGTERM a server process (it drains and exits cleanly), then SIGKILL it if it has not exited."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-1500:] if log.is_file() else "(no log)"
