"""Index versions on disk: built beside the live one, published by one atomic rename.

Layout under the index root::

    CURRENT             name of the live version (replaced atomically with os.replace)
    versions/<version>/ complete, verified versions (manifest.json written last)
    building/<version>/ versions being written; anything left here after a crash is junk

A reader follows CURRENT, verifies the manifest's checksums and counts, and refuses a
version that does not match rather than answering from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embeddings.errors import IndexIntegrityError, NoIndexError
from embeddings.index import SearchIndex

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
POINTER = "CURRENT"


def new_version_id() -> str:
    """A sortable, unique version id: UTC time plus random hex."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())
        else:
            _fsync_dir(path)
    _fsync_dir(folder)


def _checksums(folder: Path) -> dict[str, str]:
    sums = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            sums[path.relative_to(folder).as_posix()] = hashlib.sha256(
                path.read_bytes()
            ).hexdigest()
    return sums


class Snapshots:
    """The index versions under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.versions = root / "versions"
        self.building = root / "building"
        self._warned_empty = False

    def current_version(self) -> str | None:
        """Name of the live version, or None if none was ever published."""
        try:
            name = (self.root / POINTER).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        if not name:
            # Publishing replaces CURRENT atomically, so an empty one was damaged by hand
            # or by the disk; said once, not at every poll.
            if not self._warned_empty:
                log.warning(
                    "%s is empty (damaged); treating the index as missing, so it is rebuilt "
                    "from the store",
                    self.root / POINTER,
                )
                self._warned_empty = True
            return None
        self._warned_empty = False
        return name

    def publish(self, index: SearchIndex) -> Path:
        """Write ``index`` beside the live version, then make it live atomically."""
        self.building.mkdir(parents=True, exist_ok=True)
        self.versions.mkdir(parents=True, exist_ok=True)
        staging = self.building / index.version
        index.save(staging)
        manifest = dict(index.manifest, files=_checksums(staging))
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _fsync_tree(staging)
        final = self.versions / index.version
        os.rename(staging, final)
        _fsync_dir(self.versions)
        _fsync_dir(self.building)
        tmp = self.root / f"{POINTER}.{secrets.token_hex(4)}.tmp"
        with tmp.open("w", encoding="utf-8") as f:
            f.write(index.version + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.root / POINTER)
        _fsync_dir(self.root)
        log.info("published index version %s", index.version)
        return final

    def load_current(self) -> SearchIndex:
        """Load and verify the live version."""
        version = self.current_version()
        if version is None:
            raise NoIndexError(
                f"no index in {self.root}; run `briefing rebuild` (or `briefing serve`, "
                "which builds one from the default corpus)"
            )
        return self.load(version)

    def load(self, version: str) -> SearchIndex:
        """Load one version after checking every file against its manifest."""
        folder = self.versions / version
        manifest = self.verify(folder)
        return SearchIndex.load(folder, manifest)

    def verify(self, folder: Path) -> dict[str, Any]:
        """Return the manifest of ``folder`` if every listed file is present and intact."""
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise IndexIntegrityError(f"{folder}: missing or unreadable manifest ({exc})") from exc
        expected = manifest.get("files")
        if not isinstance(expected, dict) or not expected:
            raise IndexIntegrityError(f"{folder}: manifest lists no files")
        actual = _checksums(folder)
        if actual != expected:
            bad = sorted(set(expected) ^ set(actual)) or sorted(
                k for k in expected if expected[k] != actual.get(k)
            )
            raise IndexIntegrityError(f"{folder}: files do not match the manifest: {bad}")
        return dict(manifest)

    def clean(self, keep: int = 2) -> None:
        """Remove half-written builds and all but the newest ``keep`` old versions.

        Call only while holding the writer lock, so no build in progress is removed.
        """
        if self.building.exists():
            for junk in self.building.iterdir():
                log.warning("removing unfinished index build %s", junk.name)
                shutil.rmtree(junk, ignore_errors=True)
        for junk in self.root.glob(f"{POINTER}.*.tmp"):  # a pointer never moved into place
            junk.unlink(missing_ok=True)
        live = self.current_version()
        if self.versions.exists():
            old = sorted(p for p in self.versions.iterdir() if p.name != live)
            for path in old[: max(0, len(old) - keep)]:
                shutil.rmtree(path, ignore_errors=True)
