"""Model exports made once into a cache folder, atomically, and verified at every load.

A folder holds the exported files, the model's tokenizer and ``export.json``: the export
format, the SHA-256 of the weights it was made from and of each file it made. It is built
in a staging folder beside it and renamed into place, so a crash never leaves half an
export; two processes exporting at once both succeed and one copy stays.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from embeddings.encoder import file_sha256
from embeddings.errors import ModelError

log = logging.getLogger(__name__)

RECORD = "export.json"


def cached_export(
    folder: Path,
    files: Sequence[str],
    *,
    source: Path,
    weights_sha256: str,
    export_format: int,
    make: Callable[[Path], dict[str, Any]],
    what: str,
) -> Path:
    """``folder``, made by ``make(staging)`` if missing, with ``files`` checked by SHA-256.

    ``make`` writes ``files`` into the staging folder and returns extra fields for the
    record; ``what`` names the export in messages ("the ONNX export").
    """
    if not (folder / RECORD).exists():

        def write(staging: Path) -> None:
            extra = make(staging)
            shutil.copy(source / "tokenizer.json", staging / "tokenizer.json")
            record = {
                "format": export_format,
                "source_sha256": weights_sha256,
                "sha256": {name: file_sha256(staging / name) for name in files},
                **extra,
            }
            (staging / RECORD).write_text(json.dumps(record, indent=2), encoding="utf-8")

        _staged(folder, source, what, write)
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{folder}: unreadable export record ({exc}); delete the folder") from exc
    if record.get("source_sha256") != weights_sha256:
        raise ModelError(f"{folder}: exported from other weights; delete the folder")
    for name in files:
        digest = file_sha256(folder / name)
        if digest != record.get("sha256", {}).get(name):
            raise ModelError(
                f"{folder / name}: SHA-256 {digest} does not match the export record; delete "
                "the folder and it is exported again"
            )
    return folder


def _staged(folder: Path, source: Path, what: str, write: Callable[[Path], None]) -> None:
    """``write`` fills a staging folder beside ``folder``, which then becomes ``folder``."""
    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.{secrets.token_hex(4)}.tmp"
    staging.mkdir()
    try:
        write(staging)
        try:
            os.rename(staging, folder)
        except OSError:  # another process exported it first: use theirs
            shutil.rmtree(staging, ignore_errors=True)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, ModelError):
            raise
        raise ModelError(f"{source}: cannot make {what} ({exc})") from exc
    log.info(
        "made %s of %s (%s) in %.1fs", what, source.name, folder.name, time.perf_counter() - started
    )
