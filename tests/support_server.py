"""Real servers for tests: uvicorn in a background thread, or ``passerelle serve`` in a subprocess.

Importable from any test (``tests/`` is on the pytest pythonpath). Both bind 127.0.0.1 only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from passerelle.eval.bench_server import stop_process

API_KEY = "test-admin-key-0123456789"


@dataclass
class LiveServer:
    """A uvicorn server running one app in a background thread."""

    url: str
    app: Any
    server: Any
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kwargs)


def start_server(app: Any) -> LiveServer:
    """Serve ``app`` on 127.0.0.1 at a free port (the socket is bound first: no port race)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return LiveServer(url=f"http://127.0.0.1:{port}", app=app, server=server, thread=thread)


def stop_server(live: LiveServer) -> None:
    live.server.should_exit = True
    live.thread.join(timeout=30)


def free_port() -> int:
    """A port free on 127.0.0.1 right now (a subprocess server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """``passerelle serve`` running in its own process (its own JVM, its own memory)."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 60.0, **kwargs})

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextmanager
def serve_process(indexes: Sequence[Path], log: Path, *, env: Mapping[str, str] | None = None,
                  args: Sequence[str] = (), ready_path: str = "/healthz",
                  timeout_s: float = 180) -> Iterator[ServerProcess]:
    """Run ``python -m passerelle serve`` on a free loopback port until the context ends (SIGTERM)."""
    port = free_port()
    command = [sys.executable, "-m", "passerelle", "serve", "--port", str(port), "--no-access-log", *args]
    for index in indexes:
        command += ["--index", str(index)]
    environment = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment)
    server = ServerProcess(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        deadline = time.monotonic() + timeout_s
        with server.client(timeout=5.0) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}:\n{server.log_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer within {timeout_s} s:\n{server.log_text()}")
                try:
                    if client.get(ready_path).status_code < 500:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        yield server
    finally:
        stop_process(process)
