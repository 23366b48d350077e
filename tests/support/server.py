"""Real servers for tests: uvicorn in a background thread, or ``passerelle serve`` in a subprocess (the
benchmark's runner, :func:`passerelle.bench.server.serve`).

Importable from any test (``tests/`` is on the pytest pythonpath). Both bind 127.0.0.1 only.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from passerelle.bench.server import ServerProcess, free_port, serve

__all__ = ["API_KEY", "LiveServer", "ServerProcess", "free_port", "serve_process", "start_server", "stop_server"]

API_KEY = "test-admin-key-0123456789"


@dataclass
class LiveServer:
    """A uvicorn server running one app in a background thread."""

    url: str
    app: Any
    server: Any
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, **{"timeout": 60.0, **kwargs})


def start_server(app: Any) -> LiveServer:
    """Serve ``app`` on 127.0.0.1 at a free port (the socket is bound first: no port race), with the
    connection guards of its settings, as ``passerelle serve`` runs it."""
    import uvicorn

    from passerelle.service.api.connection import uvicorn_options

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", **uvicorn_options(app.state.passerelle.settings))
    )
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


def serve_process(
    indexes: Sequence[Path],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    ready_path: str = "/healthz",
    timeout_s: float = 180,
) -> AbstractContextManager[ServerProcess]:
    """Run ``python -m passerelle serve`` on a free loopback port until the context ends (SIGTERM):
    the benchmark's server runner, answering once ``ready_path`` does."""
    return serve(indexes, log, args=args, env=env, ready_path=ready_path, timeout_s=timeout_s)
