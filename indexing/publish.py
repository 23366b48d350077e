"""Atomic publication of index directories: build beside the target, then rename into place.

A build writes into ``.<name>.tmp-<id>`` next to the target. Publishing renames the current index to
``.<name>.previous``, the new one into place, then deletes the previous one. If the process dies between
the two renames, :func:`recover` (called by loaders and builders) puts the previous index back.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from pathlib import Path

from passerelle.indexing.manifest import MANIFEST

logger = logging.getLogger(__name__)


def staging_dir(target: Path) -> Path:
    """A fresh temporary sibling of ``target`` to build into."""
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def previous_dir(target: Path) -> Path:
    """Where the replaced index waits during a publish."""
    target = Path(target).resolve()
    return target.parent / f".{target.name}.previous"


def recover(target: Path) -> None:
    """Undo a publish interrupted between its two renames, and drop stale staging directories."""
    target = Path(target).resolve()
    previous = previous_dir(target)
    if previous.is_dir():
        if not (target / MANIFEST).is_file() and (previous / MANIFEST).is_file():
            if target.exists():
                shutil.rmtree(target)
            os.replace(previous, target)
            logger.warning("restored %s from an interrupted publish", target)
        else:
            shutil.rmtree(previous, ignore_errors=True)


def cleanup_staging(target: Path) -> None:
    """Remove staging directories left by killed builds of ``target``."""
    target = Path(target).resolve()
    if not target.parent.is_dir():
        return
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def discard(staging: Path, attempts: int = 5, pause_s: float = 0.5) -> None:
    """Remove a failed build's staging directory, retrying while a dying writer still adds files to it."""
    for attempt in range(attempts):
        shutil.rmtree(staging, ignore_errors=True)
        if not staging.exists():
            return
        time.sleep(pause_s * (attempt + 1))
    logger.warning("could not remove %s; the next build of this index removes it", staging)


def publish(staging: Path, target: Path) -> None:
    """Move a complete build (it has a manifest) into place, replacing any index at ``target``."""
    target = Path(target).resolve()
    if not (staging / MANIFEST).is_file():
        raise RuntimeError(f"refusing to publish {staging}: it has no {MANIFEST}")
    previous = previous_dir(target)
    if previous.exists():
        shutil.rmtree(previous)
    if target.exists():
        os.replace(target, previous)
    os.replace(staging, target)
    if previous.exists():
        shutil.rmtree(previous, ignore_errors=True)
